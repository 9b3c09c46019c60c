// The city dashboard's feed: GET /v1/public/dashboard, re-read every few seconds while the
// screen is open, by a loop of its own rather than a query library, so that a refresh runs
// very little JavaScript. What V8 compiles grows with the functions a page keeps running:
// a wall screen runs for hours, and its tab's heap should be flat (`suanli bench dashboard`).
// On each answer the feed computes each subscribed part of it (a tile row, a chart's data),
// compares it with the part it had as JSON text (JSON.stringify is built into the browser),
// and tells that part's subscribers only when it changed; the clock is written straight into
// its element. A refresh whose figures are unchanged renders nothing.
// What the feed keeps is bounded: the last answer, and one value per part.
import { useCallback, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { refusal, type Schemas } from "../../lib/api";
import { errorText } from "../../lib/errors";
import { currentLanguage } from "../../lib/i18n";

export type Dashboard = Schemas["DashboardPublic"];
export const REFRESH_MS = 5_000; // the goal is ≤ 10 s; the server keeps each answer 5 s
export const REFRESH_MS_MIN = 200;
export const REFRESH_MS_MAX = 10_000;

/** The refresh interval: 5 s, or `?refresh_ms=N` (200..10000) in the address, which the heap
 * test and `suanli bench dashboard --refresh-ms` use to run many refreshes in little time. */
export function refreshMs(search: string): number {
  const asked = Number(new URLSearchParams(search).get("refresh_ms"));
  if (!Number.isFinite(asked) || asked <= 0) return REFRESH_MS;
  return Math.min(REFRESH_MS_MAX, Math.max(REFRESH_MS_MIN, Math.round(asked)));
}

/** A part of the answer: a module-level function (its identity keys the part). */
export type Part<P> = (data: Dashboard) => P;
type Listener = () => void;
type Held = { value: unknown; text: string; listeners: Set<Listener> };

export class DashboardFeed {
  private data: Dashboard | undefined;
  private failure = "";
  private readonly parts = new Map<Part<unknown>, Held>();
  private readonly statusListeners = new Set<Listener>();
  private readonly answerListeners = new Set<(data: Dashboard) => void>();
  private timer: number | undefined;
  private running = false;
  // one per request: a fetch given a long-lived signal leaves an object on it per request
  private abort: AbortController | undefined;

  /** `previous`: the last answer of the window shown before, kept until this one answers. */
  constructor(
    private readonly hours: number,
    private readonly intervalMs: number,
    previous?: Dashboard,
  ) {
    this.data = previous;
  }

  start(): void {
    this.running = true;
    void this.read();
  }

  stop(): void {
    this.running = false;
    this.abort?.abort();
    window.clearTimeout(this.timer);
  }

  latest(): Dashboard | undefined {
    return this.data;
  }

  // -------------------------------------------------- for useSyncExternalStore
  readonly subscribeStatus = (listener: Listener): (() => void) => {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  };
  readonly ready = (): boolean => this.data !== undefined;
  readonly error = (): string => this.failure;

  subscribePart(part: Part<unknown>, listener: Listener): () => void {
    const held = this.held(part);
    held.listeners.add(listener);
    return () => held.listeners.delete(listener);
  }

  partValue(part: Part<unknown>): unknown {
    return this.held(part).value;
  }

  /** Called with every answer (and at once with the latest): for the clock. */
  onAnswer(listener: (data: Dashboard) => void): () => void {
    this.answerListeners.add(listener);
    if (this.data) listener(this.data);
    return () => this.answerListeners.delete(listener);
  }

  // -------------------------------------------------- the loop
  private held(part: Part<unknown>): Held {
    let held = this.parts.get(part);
    if (!held) {
      const value = this.data === undefined ? undefined : part(this.data);
      held = { value, text: value === undefined ? "" : JSON.stringify(value), listeners: new Set() };
      this.parts.set(part, held);
    }
    return held;
  }

  private async read(): Promise<void> {
    const abort = (this.abort = new AbortController());
    try {
      const reply = await fetch(`/v1/public/dashboard?hours=${this.hours}`, {
        headers: { "Accept-Language": currentLanguage() },
        signal: abort.signal,
      });
      const body: unknown = await reply.json().catch(() => null); // a proxy's error page is not JSON
      if (!reply.ok) throw refusal(reply, body);
      if (!abort.signal.aborted) this.accept(body as Dashboard);
    } catch (error) {
      if (abort.signal.aborted) return;
      this.fail(errorText(error));
    }
    if (this.running && !abort.signal.aborted) this.timer = window.setTimeout(() => void this.read(), this.intervalMs);
  }

  private accept(data: Dashboard): void {
    const first = this.data === undefined;
    this.data = data;
    for (const [part, held] of this.parts) {
      const value = part(data);
      const text = JSON.stringify(value);
      if (text === held.text) continue;
      held.value = value;
      held.text = text;
      for (const listener of held.listeners) listener();
    }
    for (const listener of this.answerListeners) listener(data);
    if (first || this.failure) {
      this.failure = "";
      for (const listener of this.statusListeners) listener();
    }
  }

  private fail(message: string): void {
    if (message === this.failure) return;
    this.failure = message;
    for (const listener of this.statusListeners) listener();
  }
}

/** The feed of one window, started while the page shows it; a new window's feed starts from
 * the last answer of the one before. */
export function useDashboardFeed(hours: number, intervalMs: number): DashboardFeed {
  const shown = useRef<DashboardFeed | null>(null);
  const feed = useMemo(() => new DashboardFeed(hours, intervalMs, shown.current?.latest()), [hours, intervalMs]);
  useEffect(() => {
    shown.current = feed;
    feed.start();
    return () => feed.stop();
  }, [feed]);
  return feed;
}

/** One part of the latest answer; its component re-renders only when the part changed. */
export function useDashboardPart<P>(feed: DashboardFeed, part: Part<P>): P | undefined {
  const subscribe = useCallback((listener: () => void) => feed.subscribePart(part as Part<unknown>, listener), [feed, part]);
  const value = useCallback(() => feed.partValue(part as Part<unknown>) as P | undefined, [feed, part]);
  return useSyncExternalStore(subscribe, value);
}
