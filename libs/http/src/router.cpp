#include <keel/http/router.hpp>

#include <charconv>

#include <keel/http/text.hpp>

namespace keel::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
    std::vector<std::string_view> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        parts.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool IsParam(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = HexDigit(text[i + 1]);
            const int lo = HexDigit(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        } else if (text[i] == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

const ambient::Context& RequestContext::Trace() const {
    static const ambient::Context kNone;
    return trace_ ? *trace_ : kNone;
}

std::string RequestContext::Traceparent() const {
    if (!trace_ || trace_->trace_id.empty()) return {};
    return "00-" + trace_->trace_id + "-" + trace_->span_id + (trace_->sampled ? "-01" : "-00");
}

void RequestContext::SetParamsForRouter(
    std::vector<std::pair<std::string_view, std::string_view>> params) {
    params_.clear();
    params_.reserve(params.size());
    for (const auto& param : params) {
        auto decoded = PercentDecode(param.second, false);
        params_.push_back(PathParam{param.first, decoded.value_or(""), decoded.has_value()});
    }
}

std::string_view RequestContext::Param(std::string_view name) const {
    for (const auto& param : params_) {
        if (param.name != name) continue;
        const std::string what = "path parameter '" + std::string(name) + "'";
        if (!param.decoded)
            throw HttpError(Status::bad_request, what + " is not valid percent-encoding");
        RequireText(what, param.value);
        return param.value;
    }
    return {};
}

std::optional<std::string> RequestContext::Query(std::string_view name) const {
    std::string_view target = request_.target();
    const auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key != name) continue;
        std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        const std::string what = "query parameter '" + std::string(name) + "'";
        auto decoded = PercentDecode(value, true);
        if (!decoded) throw HttpError(Status::bad_request, what + " is not valid percent-encoding");
        RequireText(what, *decoded);
        return decoded;
    }
    return std::nullopt;
}

std::optional<std::string_view> RequestContext::Header(std::string_view name) const {
    const auto it = request_.find(name);
    if (it == request_.end()) return std::nullopt;
    const std::string_view value = it->value();
    RequireText("header '" + std::string(name) + "'", value);
    return value;
}

int RequestContext::QueryInt(std::string_view name, int fallback, int min, int max) const {
    const auto text = Query(name);
    if (!text) return fallback;
    int value = 0;
    const char* end = text->data() + text->size();
    const auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc{} || ptr != end || value < min || value > max) {
        throw HttpError(Status::bad_request, std::string(name) + " must be an integer from " +
                                                 std::to_string(min) + " to " +
                                                 std::to_string(max));
    }
    return value;
}

void Router::Add(Verb method, std::string pattern, Access access, Handler handler) {
    Route route{method, std::move(pattern), access, std::move(handler), {}};
    for (auto part : SplitPath(route.pattern)) route.segments.emplace_back(part);
    routes_.push_back(std::move(route));
}

Router::Match Router::Find(
    Verb method, std::string_view path,
    std::vector<std::pair<std::string_view, std::string_view>>& params) const {
    Match match;
    if (path.empty() || path.front() != '/') return match;
    const auto parts = SplitPath(path);
    for (const auto& route : routes_) {
        if (route.segments.size() != parts.size()) continue;
        std::vector<std::pair<std::string_view, std::string_view>> found;
        bool ok = true;
        for (std::size_t i = 0; i < parts.size() && ok; ++i) {
            const std::string_view segment = route.segments[i];
            if (IsParam(segment)) {
                if (parts[i].empty())
                    ok = false;
                else
                    found.emplace_back(segment.substr(1, segment.size() - 2), parts[i]);
            } else {
                ok = segment == parts[i];
            }
        }
        if (!ok) continue;
        if (route.method == method) {
            match.route = &route;
            params = std::move(found);
            return match;
        }
        match.path_known = true;
        if (!match.allow.empty()) match.allow += ", ";
        match.allow += std::string(beast_http::to_string(route.method));
    }
    return match;
}

}  // namespace keel::http
