"""Request-validation messages in the caller's language. Pydantic words its errors in English;
this table words the ones a request can meet in Chinese, from the error's type and context."""

from __future__ import annotations

import re
from typing import Any

from suanli.i18n import current_language

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_BY_TYPE = {
    "missing": "缺少此字段",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为字符串",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合 {pattern}",
    "string_unicode": "应为有效的 Unicode 字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数，不能有小数部分",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值（`true` 或 `false`）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "json_invalid": "请求体不是有效的 JSON",
    "json_type": "应为 JSON",
    "enum": "应为以下之一: {expected}",
    "literal_error": "应为以下之一: {expected}",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不带时刻",
    "datetime_type": "应为时间（ISO 8601）",
    "datetime_parsing": "应为时间（ISO 8601）",
    "datetime_from_date_parsing": "应为时间（ISO 8601）",
    "timezone_aware": "应带时区",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_max_places": "小数最多 {decimal_places} 位",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "text_character": "含有不允许的字符 {char}（控制字符、双向文字控制符、代理项和非字符都不允许）",
    "value_error": "值无效",
    "date_range": "须在 {low} 至 {high} 之间",
    "env_reserved": "SUANLI_ 开头的变量由平台设置: {name}",
    "uuid_parsing": "应为 UUID",
    "url_parsing": "应为网址",
    "bytes_type": "应为字节串",
    "none_required": "应为空",
    "is_instance_of": "类型不对",
    "union_tag_invalid": "类型标签无效",
    "set_type": "应为集合",
    "frozen_set_type": "应为集合",
    "tuple_type": "应为列表",
    "no_such_attribute": "没有属性 {attribute}",
    "needs_python_object": "须为 Python 对象",
    "recursion_loop": "数据有循环引用",
    "recursion_depth_exceeded": "数据嵌套过深",
    "frozen_field": "此字段不能修改",
    "frozen_instance": "此对象不能修改",
    "invalid_key": "键应为字符串",
    "get_attribute_error": "读取属性出错",
    "dataclass_type": "应为对象",
    "dataclass_exact_type": "应为对象",
    "named_tuple_type": "应为列表",
    "default_factory_not_called": "其他字段有误，无法计算默认值",
    "iterable_type": "应为列表",
    "iteration_error": "读取列表时出错",
    "string_not_ascii": "只能包含 ASCII 字符",
    "frozen_dict_type": "应为对象",
    "ordered_dict_type": "应为对象",
    "counter_type": "应为对象",
    "mapping_type": "应为对象",
    "deque_type": "应为列表",
    "set_item_not_hashable": "集合中的项须可哈希",
    "int_parsing_size": "整数太大，无法解析",
    "bytes_too_short": "至少 {min_length} 字节",
    "bytes_too_long": "最多 {max_length} 字节",
    "bytes_invalid_encoding": "不是有效的 {encoding} 编码",
    "assertion_error": "值无效",
    "missing_sentinel_error": "值无效",
    "ellipsis_error": "值无效",
    "date_past": "应为过去的日期",
    "date_future": "应为将来的日期",
    "time_type": "应为时刻（HH:MM:SS）",
    "time_parsing": "应为时刻（HH:MM:SS）",
    "datetime_object_invalid": "时间无效",
    "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间",
    "timezone_naive": "不应带时区",
    "timezone_offset": "时区偏移应为 {tz_expected} 秒",
    "time_delta_type": "应为时长",
    "time_delta_parsing": "应为时长",
    "is_subclass_of": "类型不对",
    "callable_type": "类型不对",
    "union_tag_not_found": "缺少类型标签 {discriminator}",
    "arguments_type": "参数应为列表或对象",
    "missing_argument": "缺少必需的参数",
    "unexpected_keyword_argument": "不认识的参数",
    "missing_keyword_only_argument": "缺少必需的参数",
    "unexpected_positional_argument": "多余的参数",
    "missing_positional_only_argument": "缺少必需的参数",
    "multiple_argument_values": "参数给了多次",
    "url_type": "应为网址",
    "url_syntax_violation": "网址格式无效",
    "url_too_long": "网址最多 {max_length} 个字符",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_type": "应为 UUID",
    "uuid_version": "应为第 {expected_version} 版 UUID",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "fraction_type": "应为分数",
    "fraction_parsing": "应为分数",
    "complex_type": "应为复数",
    "complex_str_parsing": "应为复数",
    # strict numbers and booleans (api.schemas.Strict): what was sent instead, from the input
    "int_not_bool": "应为整数，不能是 `true` 或 `false`",
    "int_not_string": '应为整数，不能是字符串：写 500，不写 "500"',
    "int_not_decimal": "应为整数，不能带小数点或指数：写 5，不写 5.0 或 1e3",
    "number_not_bool": "应为数字，不能是 `true` 或 `false`",
    "number_not_string": '应为数字，不能是字符串：写 0.5，不写 "0.5"',
    "bool_not_number": "应为布尔值 `true` 或 `false`，不能是数字",
    "bool_not_string": '应为布尔值 `true` 或 `false`，不能是字符串 `"true"`',
    # query parameters (api.strict_query)
    "query_integer": "应为十进制整数，如 20",
    "query_number": "应为十进制数字，如 0.5",
    "query_boolean": "应为 `true` 或 `false`",
}
# English for the strict kinds above (pydantic's own says "a valid integer" whatever came)
EN_STRICT = {
    "int_not_bool": "Input should be a JSON integer, not true or false",
    "int_not_string": 'Input should be a JSON integer, not a string: 500, not "500"',
    "int_not_decimal": (
        "Input should be a JSON integer, without a decimal point or exponent: 5, not 5.0 or 1e3"
    ),
    "number_not_bool": "Input should be a JSON number, not true or false",
    "number_not_string": 'Input should be a JSON number, not a string: 0.5, not "0.5"',
    "bool_not_number": "Input should be a JSON boolean, true or false, not a number",
    "bool_not_string": 'Input should be a JSON boolean, not a string: true, not "true"',
}
STRICT_KINDS = {
    ("int_type", "bool"): "int_not_bool",
    ("int_type", "string"): "int_not_string",
    ("int_type", "number"): "int_not_decimal",
    ("float_type", "bool"): "number_not_bool",
    ("float_type", "string"): "number_not_string",
    ("bool_type", "number"): "bool_not_number",
    ("bool_type", "string"): "bool_not_string",
}


def problem_message(item: dict[str, Any]) -> str:
    """The message of one validation problem in the current language."""
    item = _as_strict_problem(_as_string_problem(item))
    if current_language() == "en":
        return str(item.get("msg", "invalid value"))
    context = {key: _shown(value) for key, value in (item.get("ctx") or {}).items()}
    if "expected" in context:  # pydantic lists choices as "'a', 'b' or 'c'": English glue
        context["expected"] = re.sub(r",\s*|\s+or\s+", "、", context["expected"])
    if item.get("type") == "value_error" and CJK.search(context.get("error", "")):
        return context["error"]  # a validator's own bilingual message, already rendered
    template = ZH_BY_TYPE.get(str(item.get("type")), "值无效")
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return template.split("{", 1)[0].rstrip(" :：") or "值无效"


def _as_string_problem(item: dict[str, Any]) -> dict[str, Any]:
    """pydantic checks `min_length` / `max_length` of an optional string (`Line | None`) on
    the union and reports a collection's `too_short` / `too_long` ("at least 1 item"); a
    string counts characters."""
    kind = item.get("type")
    if kind not in ("too_short", "too_long") or not isinstance(item.get("input"), str):
        return item
    context = item.get("ctx") or {}
    if kind == "too_short":
        limit = context.get("min_length")
        return {**item, "type": "string_too_short", "msg": _characters("least", limit)}
    limit = context.get("max_length")
    return {**item, "type": "string_too_long", "msg": _characters("most", limit)}


def _as_strict_problem(item: dict[str, Any]) -> dict[str, Any]:
    """A strict field's refusal says what came instead: `"500"` for an integer is a string,
    `5.0` a number with a point, `1` for a boolean a number."""
    if "input" not in item:
        return item
    value = item["input"]
    if isinstance(value, bool):
        sent = "bool"
    elif isinstance(value, str):
        sent = "string"
    elif isinstance(value, int | float):
        sent = "number"
    else:
        return item
    kind = STRICT_KINDS.get((str(item.get("type")), sent))
    if kind is None:
        return item
    return {**item, "type": kind, "msg": EN_STRICT[kind]}


def _characters(bound: str, limit: object) -> str:
    unit = "character" if limit == 1 else "characters"
    return f"String should have at {bound} {limit} {unit}"


def _shown(value: Any) -> str:
    return str(value)
