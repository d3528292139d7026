#include <keel/http/text.hpp>

#include <string>

#include <keel/http/message.hpp>

namespace keel::http {

bool IsUtf8(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char lead = *p;
        if (lead < 0x80) {
            ++p;
            continue;
        }
        // The allowed range of the second byte depends on the lead byte: that excludes
        // overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and > U+10FFFF.
        int length = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            return false;
        }
        if (end - p < length) return false;
        if (p[1] < low || p[1] > high) return false;
        for (int i = 2; i < length; ++i) {
            if (p[i] < 0x80 || p[i] > 0xBF) return false;
        }
        p += length;
    }
    return true;
}

void RequireText(std::string_view what, std::string_view value) {
    if (!IsUtf8(value))
        throw HttpError(Status::bad_request, std::string(what) + " is not valid UTF-8");
    if (value.find('\0') != std::string_view::npos)
        throw HttpError(Status::bad_request, std::string(what) + " must not contain NUL");
}

}  // namespace keel::http
