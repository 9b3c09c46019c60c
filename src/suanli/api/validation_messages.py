"""Request-validation messages in the caller's language. Pydantic words its errors in English;
this table words the ones a request can meet in Chinese, from the error's type and context."""

from __future__ import annotations

from typing import Any

from suanli.i18n import current_language

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
    "bool_parsing": "应为布尔值（true 或 false）",
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
    "text_character": "含有不允许的字符 {char}（控制字符、代理项和非字符都不允许）",
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
}


def problem_message(item: dict[str, Any]) -> str:
    """The message of one validation problem in the current language."""
    if current_language() == "en":
        return str(item.get("msg", "invalid value"))
    template = ZH_BY_TYPE.get(str(item.get("type")), "值无效")
    context = {key: _shown(value) for key, value in (item.get("ctx") or {}).items()}
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return template.split("{", 1)[0].rstrip(" :：") or "值无效"


def _shown(value: Any) -> str:
    return str(value)
