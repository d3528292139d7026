#pragma once
#include <string_view>

namespace keel::http {

/// True when `text` is well-formed UTF-8: no stray continuation bytes, overlong forms,
/// UTF-16 surrogates or code points past U+10FFFF.
bool IsUtf8(std::string_view text);

/// Checks text that arrived in a request (query or path parameter, header value) before
/// a handler treats it as data: it must be UTF-8 without NUL, since PostgreSQL text holds
/// neither invalid UTF-8 nor NUL. Throws HttpError 400 naming `what` (e.g. "query
/// parameter 'q'") otherwise.
void RequireText(std::string_view what, std::string_view value);

}  // namespace keel::http
