"""Recovering tool calls a model wrote as text instead of in the protocol's `tool_calls`.

Recognised: Qwen3-Coder / Qwen3.6 XML (`<function=NAME><parameter=P>value</parameter></function>`,
with or without a `<tool_call>` wrapper), Hermes JSON (`<tool_call>{"name": …, "arguments": …}
</tool_call>`), a fenced ```json block holding only a known tool's name and arguments, and an
answer that is nothing but such objects (`{"name": …, "arguments": …}`, as ChatML-style templates
ask small models to write them).

Markup is a call only where the model wrote it as markup: inside another code fence or an inline
code span it is content, and an unclosed or malformed block is left as text. A parameter value may
itself contain `<parameter=` or `</parameter>` (a file being written): a value ends only at a
`</parameter>` followed by the next expected parameter or by `</function>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from prompts import render

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
FUNCTION_OPEN, FUNCTION_CLOSE = "<function=", "</function>"
PARAMETER_OPEN, PARAMETER_CLOSE = "<parameter=", "</parameter>"
# What starts a call in text; a streaming front-end holds its display back from here.
CALL_MARKERS = (TOOL_CALL_OPEN, FUNCTION_OPEN, "```json", "```tool_call")

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w-]*)[^\n]*\n", re.M)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_NAME = re.compile(r"([^>\s]+)>")
_CALL_FENCE_LANGS = ("json", "tool_call", "")


@dataclass(frozen=True)
class RecoveredCall:
    name: str
    arguments: str  # JSON text of an object


@dataclass(frozen=True)
class Recovery:
    text: str  # the input without the markup of the calls found
    calls: list[RecoveredCall]


def recover_calls(text: str, tools: list[dict[str, Any]]) -> Recovery:
    """The calls written as markup in `text`, and the text without them."""
    schemas = _parameter_schemas(tools)
    fences = _fences(text)
    code = _code_spans(text, fences)
    spans: list[tuple[int, int, RecoveredCall]] = []
    for start, end, lang, body in fences:
        found = _fenced_call(lang, body, schemas)
        if found:
            spans.append((start, end, found))
    pos = 0
    while True:
        start = _next_marker(text, pos, code)
        if start is None:
            break
        found = _markup_call(text, start, schemas)
        if found is None:
            pos = start + 1
            continue
        end, call = found
        spans.append((start, end, call))
        pos = end
    if not spans:
        bare = _bare_calls(text, schemas)
        return Recovery("", bare) if bare else Recovery(text, [])
    spans.sort(key=lambda s: s[0])
    kept, last = [], 0
    for start, end, _ in spans:
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return Recovery("".join(kept).strip(), [call for _, _, call in spans])


def normalize_arguments(raw: str) -> str:
    """Arguments as JSON object text, repairing what models break; unrepairable text is kept as is."""
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        value = _lenient_json(raw)
        if value is None:
            return raw
    if isinstance(value, str):  # a JSON string holding the JSON object
        value = _lenient_json(value)
    if isinstance(value, dict):
        return raw if is_json_object(raw) else json.dumps(value, ensure_ascii=False)
    return raw


def text_protocol_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a server without tool support: schemas in the system prompt, calls and
    results as plain text. A pure function of its input, so each request still extends the last."""
    described = "\n".join(json.dumps(t["function"], sort_keys=True, ensure_ascii=False) for t in tools)
    protocol = render("tool_protocol", tools=described)
    out: list[dict[str, Any]] = []
    if not messages or messages[0].get("role") != "system":
        out.append({"role": "system", "content": protocol})
    after_tool = False
    for message in messages:
        role = message.get("role")
        if role == "tool":
            response = f"<tool_response>\n{message.get('content') or ''}\n</tool_response>"
            if after_tool:  # one user turn holds the results of one assistant turn
                out[-1] = {**out[-1], "content": out[-1]["content"] + "\n" + response}
            else:
                out.append({"role": "user", "content": response})
            after_tool = True
            continue
        after_tool = False
        if role == "system" and not out:
            out.append({"role": "system", "content": f"{message.get('content') or ''}\n\n{protocol}"})
        elif role == "assistant" and message.get("tool_calls"):
            calls = [
                f"{TOOL_CALL_OPEN}\n" + json.dumps(
                    {"name": c["function"]["name"], "arguments": _loaded(c["function"]["arguments"])},
                    ensure_ascii=False) + f"\n{TOOL_CALL_CLOSE}"
                for c in message["tool_calls"]
            ]
            text = "\n".join(filter(None, [message.get("content") or "", *calls]))
            out.append({k: v for k, v in message.items() if k != "tool_calls"} | {"content": text})
        else:
            out.append(message)
    return out


# -- finding markup --------------------------------------------------------------------------


def _fences(text: str) -> list[tuple[int, int, str, str]]:
    """Fenced code blocks: (start, end, language, body); an unclosed fence runs to the end."""
    out = []
    pos = 0
    while (opening := _FENCE_OPEN.search(text, pos)) is not None:
        closing = re.compile(rf"^[ \t]*{re.escape(opening.group(1))}[ \t]*$", re.M).search(text, opening.end())
        body_end, end = (closing.start(), closing.end()) if closing else (len(text), len(text))
        out.append((opening.start(), end, opening.group(2).lower(), text[opening.end():body_end]))
        pos = max(end, opening.end())
    return out


def _code_spans(text: str, fences: list[tuple[int, int, str, str]]) -> list[tuple[int, int]]:
    """Where markup is content: fenced blocks and inline code."""
    spans = [(start, end) for start, end, _, _ in fences]
    for m in _INLINE_CODE.finditer(text):
        if not any(s <= m.start() < e for s, e in spans):
            spans.append((m.start(), m.end()))
    return spans


def _next_marker(text: str, pos: int, code: list[tuple[int, int]]) -> int | None:
    while True:
        hits = [i for i in (text.find(TOOL_CALL_OPEN, pos), text.find(FUNCTION_OPEN, pos)) if i != -1]
        if not hits:
            return None
        start = min(hits)
        inside = next((e for s, e in code if s <= start < e), None)
        if inside is None:
            return start
        pos = inside


def _markup_call(text: str, start: int, schemas: dict[str, dict[str, Any]]) -> tuple[int, RecoveredCall] | None:
    """A call starting at `start` (`<tool_call>` or `<function=`): its end and the call, or None."""
    wrapped = text.startswith(TOOL_CALL_OPEN, start)
    pos = _skip_space(text, start + len(TOOL_CALL_OPEN)) if wrapped else start
    if text.startswith(FUNCTION_OPEN, pos):
        found = _xml_function(text, pos, schemas)
        if found is None:
            return None
        end, call = found
    elif wrapped and text.startswith("{", pos):
        # The JSON ends at the first closer after which it parses: a value may hold "</tool_call>".
        close = text.find(TOOL_CALL_CLOSE, pos)
        while (call := _json_call(text[pos:close if close != -1 else len(text)])) is None:
            if close == -1:
                return None
            close = text.find(TOOL_CALL_CLOSE, close + 1)
        end = close if close != -1 else len(text)
    else:
        return None
    after = _skip_space(text, end)  # the closer, even when the model left out the opener
    if text.startswith(TOOL_CALL_CLOSE, after):
        end = after + len(TOOL_CALL_CLOSE)
    return end, call


def _xml_function(text: str, pos: int, schemas: dict[str, dict[str, Any]]) -> tuple[int, RecoveredCall] | None:
    m = _NAME.match(text, pos + len(FUNCTION_OPEN))
    if not m:
        return None
    name = m.group(1)
    known = schemas.get(name)
    arguments: dict[str, Any] = {}
    pos = m.end()
    while True:
        pos = _skip_space(text, pos)
        if text.startswith(FUNCTION_CLOSE, pos):
            return pos + len(FUNCTION_CLOSE), RecoveredCall(name, json.dumps(arguments, ensure_ascii=False))
        if not text.startswith(PARAMETER_OPEN, pos):
            return None  # stray text, or the block never closes: not a call
        p = _NAME.match(text, pos + len(PARAMETER_OPEN))
        if not p:
            return None
        parameter = p.group(1)
        found = _parameter_end(text, p.end(), known, set(arguments) | {parameter})
        if found is None:
            return None
        value_end, pos = found
        value = _strip_one_newline(text[p.end():value_end])
        arguments[parameter] = _convert(value, (known or {}).get(parameter))


def _parameter_end(text: str, start: int, known: dict[str, Any] | None, taken: set[str]) -> tuple[int, int] | None:
    """Where a value ends and parsing resumes: at a `</parameter>` followed by the next parameter
    of the tool or by `</function>`; failing that (the model dropped `</parameter>`), at such a
    boundary itself."""
    def is_boundary(i: int) -> bool:
        if text.startswith(FUNCTION_CLOSE, i):
            return True
        if text.startswith(PARAMETER_OPEN, i):
            m = _NAME.match(text, i + len(PARAMETER_OPEN))
            return bool(m) and m.group(1) not in taken and (known is None or m.group(1) in known)
        return False

    i = text.find(PARAMETER_CLOSE, start)
    while i != -1:
        after = _skip_space(text, i + len(PARAMETER_CLOSE))
        if is_boundary(after):
            return i, after
        i = text.find(PARAMETER_CLOSE, i + 1)
    for marker in (PARAMETER_OPEN, FUNCTION_CLOSE):
        i = text.find(marker, start)
        while i != -1:
            if is_boundary(i):
                return i, i
            i = text.find(marker, i + 1)
    return None


def _fenced_call(lang: str, body: str, schemas: dict[str, dict[str, Any]]) -> RecoveredCall | None:
    """A fence is a call only when it holds nothing but a known tool's name and arguments."""
    if lang not in _CALL_FENCE_LANGS:
        return None
    return _known_call(_lenient_json(body.strip()), body, schemas)


def _bare_calls(text: str, schemas: dict[str, dict[str, Any]]) -> list[RecoveredCall]:
    """Calls written as bare JSON objects, one after another, when the answer holds nothing else;
    an answer that merely contains JSON is prose."""
    decoder = json.JSONDecoder(strict=False)
    calls: list[RecoveredCall] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return []
        call = _known_call(value, text[pos:end], schemas)
        if call is None:
            return []
        calls.append(call)
        pos = _skip_space(text, end)
    return calls


def _known_call(value: Any, body: str, schemas: dict[str, dict[str, Any]]) -> RecoveredCall | None:
    """`value` (parsed from `body`) as a call, when it is only a known tool's name and arguments."""
    if not isinstance(value, dict) or not set(value) <= {"name", "arguments", "parameters"}:
        return None
    if value.get("name") not in schemas:
        return None
    return _json_call(body)


def _json_call(body: str) -> RecoveredCall | None:
    value = _lenient_json(body.strip())
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _lenient_json(arguments) if arguments.strip() else {}
    if not isinstance(arguments, dict):
        return None
    return RecoveredCall(value["name"], json.dumps(arguments, ensure_ascii=False))


# -- values ----------------------------------------------------------------------------------


def _parameter_schemas(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in tools:
        function = t.get("function", t)
        out[function["name"]] = (function.get("parameters") or {}).get("properties") or {}
    return out


def _types(schema: dict[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    kind = schema.get("type")
    types = set(kind) if isinstance(kind, list) else ({kind} if kind else set())
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        types |= _types(option)
    if "enum" in schema and not types:
        types.add("string")
    return types


def _convert(value: str, schema: dict[str, Any] | None) -> Any:
    """A parameter's text as the type its schema names; text that fits no type stays text."""
    types = _types(schema)
    bare = value.strip()
    if "null" in types and bare.lower() in ("null", "none"):
        return None
    if "boolean" in types and bare.lower() in ("true", "false"):
        return bare.lower() == "true"
    if types & {"integer", "number"} and re.fullmatch(r"[-+]?\d+", bare):
        return int(bare)
    if "number" in types:
        try:
            return float(bare)
        except ValueError:
            pass
    if types & {"object", "array"}:
        parsed = _lenient_json(bare)
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


def _lenient_json(text: str) -> Any:
    """JSON as models write it: raw newlines in strings, trailing commas. None when it is not JSON."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(_without_trailing_commas(text), strict=False)
    except json.JSONDecodeError:
        return None


def _without_trailing_commas(text: str) -> str:
    out: list[str] = []
    comma: int | None = None  # where in `out` the last comma outside a string sits, until a token follows
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch in "}]" and comma is not None:
            del out[comma]
        elif ch == '"':
            in_string = True
        if not ch.isspace():
            comma = len(out) if ch == "," and not in_string else None
        out.append(ch)
    return "".join(out)


def is_json_object(raw: str) -> bool:
    """`raw` is exactly the JSON text of an object."""
    try:
        return isinstance(json.loads(raw), dict)
    except json.JSONDecodeError:
        return False


def _loaded(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _strip_one_newline(value: str) -> str:
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value
