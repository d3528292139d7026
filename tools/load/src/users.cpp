#include "users.hpp"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace keel::load {

namespace json = boost::json;

namespace {

std::string Base64UrlDecode(std::string_view in) {
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else if (c == '=')
            break;
        else
            return {};
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xff));
        }
    }
    return out;
}

}  // namespace

std::int64_t TokenExpiry(const std::string& jwt) {
    const auto first = jwt.find('.');
    const auto second = jwt.find('.', first + 1);
    if (first == std::string::npos || second == std::string::npos) return 0;
    boost::system::error_code ec;
    const auto payload = json::parse(
        Base64UrlDecode(std::string_view(jwt).substr(first + 1, second - first - 1)), ec);
    if (ec || !payload.is_object()) return 0;
    const auto* exp = payload.as_object().if_contains("exp");
    return exp && exp->is_int64() ? exp->as_int64() : 0;
}

std::vector<User> ReadUsersFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read users file " + path);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    const auto doc = json::parse(text.str(), ec);
    if (ec || !doc.is_array())
        throw std::runtime_error("users file " + path + " is not a JSON array of users");
    std::vector<User> users;
    for (const auto& item : doc.as_array()) {
        const auto* o = item.if_object();
        auto field = [&](const char* name) -> std::string {
            const auto* v = o ? o->if_contains(name) : nullptr;
            if (!v || !v->is_string())
                throw std::runtime_error("users file " + path + ": a user without \"" + name +
                                         "\"");
            return std::string(v->as_string());
        };
        users.push_back(
            User{field("id"), field("email"), field("password"), field("access_token")});
    }
    return users;
}

void WriteUsersFile(const std::string& path, const std::vector<User>& users) {
    json::array out;
    for (const auto& u : users)
        out.push_back(json::object{
            {"id", u.id}, {"email", u.email}, {"password", u.password}, {"access_token", u.token}});
    std::ofstream file(path);
    file << json::serialize(out) << '\n';
    if (!file) throw std::runtime_error("cannot write users file " + path);
}

}  // namespace keel::load
