"""Recovering tool calls a model wrote as text instead of in the protocol's `tool_calls`.

Recognised: Qwen3-Coder / Qwen3.6 XML (`<function=NAME><parameter=P>value</parameter></function>`,
with or without a `<tool_call>` wrapper), Hermes JSON (`<tool_call>{"name": …, "arguments": …}
</tool_call>`), a fenced ```json block holding only a known tool's name and arguments, and an
answer that is nothing but such objects (`{"name": …, "arguments": …}`, as ChatML-style templates
ask small models to write them).

Markup is a call only where the model wrote it as markup: inside another code fence or an inline
code span it is content, and an unclosed or malformed block is left as text. A parameter value may
itself contain `<parameter=`, `</parameter>` or `</function>` (a file that documents this very
format): of the places where a value could end (a `</parameter>` followed by the next parameter
or by `</function>`, or, when the model dropped `</parameter>`, the next parameter itself), the
first is taken whose call then ends structurally, at the end of the answer or of the next call.
Object and array values written as Python literals (`{'a': True}`) are read with a literal parser
(never eval), by the tool's schema.

`ProseGate` tells a streaming reader how much of the answer is surely prose, by the same rules,
so what is shown while streaming is always a prefix of what is left once the calls are taken out.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass
from typing import Any, Iterator

from prompts import render

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
FUNCTION_OPEN, FUNCTION_CLOSE = "<function=", "</function>"
PARAMETER_OPEN, PARAMETER_CLOSE = "<parameter=", "</parameter>"

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w-]*)[^\n]*\n", re.M)
_LINE_PIECES = re.compile(r"[^\n]*\n|[^\n]+")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_NAME = re.compile(r"([^>\s]+)>")
_CALL_FENCE_LANGS = ("json", "tool_call", "")
# Readings of one call tried before taking the first: a value rarely holds many closers.
MAX_PARSES = 64


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


class ProseGate:
    """How much of an answer arriving in pieces is surely prose: never the start of a call.

    Fed the answer piece by piece, it answers an offset; text before it stays in the answer
    whatever follows, by the rules of `recover_calls`. It holds back from `<tool_call>` or
    `<function=` for good, from an answer that opens with `{` (it may be nothing but calls), and
    from a ```json, ```tool_call or plain fence until the fence closes and is no call; a fence of
    any other language is content as it comes. Only the current line is kept, so its cost is
    linear in the answer.
    """

    HEAD = 256  # a line longer than this is no fence opener or closer worth waiting for

    def __init__(self, tools: list[dict[str, Any]]) -> None:
        self.schemas = _parameter_schemas(tools)
        self.total = 0
        self.line_start = 0
        self.head = ""  # the current line's first HEAD characters
        self.tail = ""  # its last few, for markers split across pieces
        self.fence: tuple[int, str, str] | None = None  # start, marker, language of an open fence
        self.body: list[str] = []  # the open fence's lines, when it may be a call
        self.stuck: int | None = None  # held back from here for good
        self.opened = False  # a non-space character has come

    def feed(self, piece: str) -> int:
        if not self.schemas:
            self.total += len(piece)
            return self.total
        for segment in _LINE_PIECES.findall(piece):
            self._segment(segment)
        return self.safe()

    def safe(self) -> int:
        if self.stuck is not None:
            return self.stuck
        if self.fence is not None:
            start, _, lang = self.fence
            return start if lang in _CALL_FENCE_LANGS else self.total
        if self._may_open_fence():
            return self.line_start
        return self.total - max(partial_suffix(self.tail, m) for m in (TOOL_CALL_OPEN, FUNCTION_OPEN))

    def _may_open_fence(self) -> bool:
        line = self.head.lstrip(" \t")
        return line.startswith(("```", "~~~")) or "```".startswith(line) or "~~~".startswith(line)

    def _segment(self, segment: str) -> None:
        start = self.total
        self.total += len(segment)
        if self.stuck is not None:
            return
        if not self.opened and segment.strip():
            self.opened = True
            if segment.lstrip().startswith("{"):
                self.stuck = 0
                return
        if len(self.head) < self.HEAD:
            self.head += segment[: self.HEAD - len(self.head)]
        if self.fence is None:
            seen = self.tail + segment
            hits = [i for i in (seen.find(TOOL_CALL_OPEN), seen.find(FUNCTION_OPEN)) if i != -1]
            if hits:  # held from the marker, or from its line when that may open a fence
                self.stuck = self.line_start if self._may_open_fence() else start - len(self.tail) + min(hits)
                return
            self.tail = seen[-len(TOOL_CALL_OPEN):]
        elif self.fence[2] in _CALL_FENCE_LANGS:
            self.body.append(segment)
        if segment.endswith("\n"):
            self._line_ended()

    def _line_ended(self) -> None:
        line = self.head
        if self.fence is not None:
            fence_start, marker, lang = self.fence
            if re.fullmatch(rf"[ \t]*{re.escape(marker)}[ \t]*\n?", line):
                body = "".join(self.body)
                body = body[: len(body) - len(line)]
                self.fence, self.body = None, []
                if lang in _CALL_FENCE_LANGS and _fenced_call(lang, body, self.schemas):
                    self.stuck = fence_start
        elif m := _FENCE_OPEN.match(line if line.endswith("\n") else line + "\n"):
            self.fence = (self.line_start, m.group(1), m.group(2).lower())
        self.line_start, self.head, self.tail = self.total, "", ""


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
        while (call := _json_call(text[pos:close if close != -1 else len(text)], schemas)) is None:
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
    first: tuple[int, dict[str, str]] | None = None
    for tries, (end, values) in enumerate(_parses(text, m.end(), known, {})):
        first = first or (end, values)
        if _ends_call(text, end):
            first = (end, values)
            break
        if tries >= MAX_PARSES:
            break
    if first is None:
        return None
    end, values = first
    arguments = {k: _convert(v, (known or {}).get(k)) for k, v in values.items()}
    return end, RecoveredCall(name, json.dumps(arguments, ensure_ascii=False))


def _parses(text: str, pos: int, known: dict[str, Any] | None,
            values: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Every reading of the parameters from `pos` to `</function>`, the earliest value ends first."""
    pos = _skip_space(text, pos)
    if text.startswith(FUNCTION_CLOSE, pos):
        yield pos + len(FUNCTION_CLOSE), values
        return
    if not text.startswith(PARAMETER_OPEN, pos):
        return  # stray text, or the block never closes: not a call
    p = _NAME.match(text, pos + len(PARAMETER_OPEN))
    if not p:
        return
    parameter = p.group(1)
    for value_end, resume in _value_ends(text, p.end(), known, set(values) | {parameter}):
        value = _strip_one_newline(text[p.end():value_end])
        yield from _parses(text, resume, known, {**values, parameter: value})


def _value_ends(text: str, start: int, known: dict[str, Any] | None, taken: set[str]) -> list[tuple[int, int]]:
    """Where a value may end, and where parsing resumes, in order: a `</parameter>` followed by the
    next parameter of the tool or by `</function>`, or (the model dropped `</parameter>`) such a
    boundary itself."""
    def is_boundary(i: int) -> bool:
        if text.startswith(FUNCTION_CLOSE, i):
            return True
        if text.startswith(PARAMETER_OPEN, i):
            m = _NAME.match(text, i + len(PARAMETER_OPEN))
            return bool(m) and m.group(1) not in taken and (known is None or m.group(1) in known)
        return False

    ends: dict[int, tuple[int, int]] = {}
    i = text.find(PARAMETER_CLOSE, start)
    while i != -1 and len(ends) < MAX_PARSES:
        after = _skip_space(text, i + len(PARAMETER_CLOSE))
        if is_boundary(after):
            ends[i] = (i, after)
            ends[after] = (i, after)  # the boundary right after a closer is that closer's
        i = text.find(PARAMETER_CLOSE, i + 1)
    for marker in (PARAMETER_OPEN, FUNCTION_CLOSE):
        i = text.find(marker, start)
        while i != -1 and len(ends) < 2 * MAX_PARSES:
            if i not in ends and is_boundary(i):
                ends[i] = (i, i)
            i = text.find(marker, i + 1)
    return sorted(set(ends.values()))


def _ends_call(text: str, end: int) -> bool:
    """After `</function>` (and `</tool_call>`) comes nothing, or the next call."""
    pos = _skip_space(text, end)
    if text.startswith(TOOL_CALL_CLOSE, pos):
        pos = _skip_space(text, pos + len(TOOL_CALL_CLOSE))
    return pos == len(text) or text.startswith((TOOL_CALL_OPEN, FUNCTION_OPEN), pos)


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
    return _json_call(body, schemas)


def _json_call(body: str, schemas: dict[str, dict[str, Any]]) -> RecoveredCall | None:
    value = _lenient_json(body.strip())
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _lenient_json(arguments) if arguments.strip() else {}
    if not isinstance(arguments, dict):
        return None
    arguments = _typed(arguments, schemas.get(value["name"]))
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
        if isinstance(parsed, str):  # a JSON string holding the value
            parsed = _lenient_json(parsed.strip())
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


def _typed(arguments: dict[str, Any], known: dict[str, Any] | None) -> dict[str, Any]:
    """JSON arguments whose text values the schema says are something else, converted."""
    out = dict(arguments)
    for key, value in arguments.items():
        types = _types((known or {}).get(key))
        if isinstance(value, str) and types and "string" not in types:
            out[key] = _convert(value, (known or {}).get(key))
    return out


def _lenient_json(text: str) -> Any:
    """JSON as models write it: raw newlines in strings, trailing commas, or a Python literal
    (single quotes, True, None). None when it is none of these."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(_without_trailing_commas(text), strict=False)
    except json.JSONDecodeError:
        return _python_literal(text)


_PYTHON_NAMES = {"true": "True", "false": "False", "null": "None"}


def _python_literal(text: str) -> Any:
    """An object or array written as a Python literal, JSON's true/false/null allowed too; read by
    `ast.literal_eval`, which evaluates nothing. None when it is not one, or not JSON-shaped."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        tokens = [(t.type, _PYTHON_NAMES.get(t.string, t.string) if t.type == tokenize.NAME else t.string)
                  for t in tokenize.generate_tokens(io.StringIO(text).readline)]
        value = ast.literal_eval(tokenize.untokenize(tokens).strip())
        value = _json_shaped(value)
        json.dumps(value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError, tokenize.TokenError):
        return None
    return value


def _json_shaped(value: Any) -> Any:
    """Tuples as lists; sets, bytes and complex numbers are not JSON and refused."""
    if isinstance(value, (list, tuple)):
        return [_json_shaped(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("keys must be text")
        return {k: _json_shaped(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON")


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


def partial_suffix(text: str, tag: str) -> int:
    """How long a tail of `text` is the start of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
