// A voucher application names its program by id (vpr_…); people know programs by name.
import { useQueries } from "@tanstack/react-query";
import { api, unwrap } from "../../lib/api";

type Named = { program_id: string; program_name?: string | null };

/** The name of each row's program: the row's own `program_name` where the API sends one,
 * else the program's (one GET per program on the page, cached; any signed-in user may read
 * a program), else, for a program gone or not yet read, its id. */
export function useProgramNames(rows: readonly Named[]): (row: Named) => string {
  const ids = [...new Set(rows.filter((row) => !row.program_name).map((row) => row.program_id))];
  const programs = useQueries({
    queries: ids.map((id) => ({
      queryKey: ["program", id],
      queryFn: () => unwrap(api.GET("/v1/vouchers/programs/{program_id}", { params: { path: { program_id: id } } })),
      staleTime: 300_000,
      retry: false,
    })),
  });
  const names = new Map(programs.flatMap((program) => (program.data ? [[program.data.id, program.data.name] as const] : [])));
  return (row) => row.program_name || names.get(row.program_id) || row.program_id;
}
