// URL credential redaction and a redacting spdlog formatter.
#include "edgevision/redact.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace ev {
namespace {

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// Ends a URL inside free text.
bool url_end(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`' || c == ')' || c == ']' || c == ',' || c == ';';
}

bool secret_key(std::string_view key) {
  std::string k(key);
  std::transform(k.begin(), k.end(), k.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::string_view, 12> kKeys = {
      "password", "passwd", "pwd",     "pass",         "token", "secret",
      "key",      "apikey", "api_key", "access_token", "auth",  "user"};
  return std::find(kKeys.begin(), kKeys.end(), k) != kKeys.end();
}

// `url` starts at the scheme; redacts userinfo and secret query values.
std::string redact_one(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::string(url);
  const size_t auth_start = sep + 3;
  // The last '@' ends the userinfo. Passwords may hold unescaped '@', '/', '?' or '#', so the
  // whole URL is searched: a path or query with an '@' is over-redacted, never a secret shown.
  const size_t at = url.rfind('@');
  std::string out(url.substr(0, auth_start));
  size_t host_start = auth_start;
  if (at != std::string_view::npos && at >= auth_start) {
    out += "***@";
    host_start = at + 1;
  }
  const size_t auth_end = url.find_first_of("/?#", host_start);
  out += url.substr(host_start, auth_end == std::string_view::npos ? std::string_view::npos
                                                                   : auth_end - host_start);
  if (auth_end == std::string_view::npos) return out;
  std::string_view rest = url.substr(auth_end);
  const size_t q = rest.find('?');
  if (q == std::string_view::npos) return out + std::string(rest);
  out += rest.substr(0, q + 1);
  std::string_view query = rest.substr(q + 1);
  std::string_view fragment;
  if (const size_t h = query.find('#'); h != std::string_view::npos) {
    fragment = query.substr(h);
    query = query.substr(0, h);
  }
  for (size_t pos = 0; pos <= query.size();) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && secret_key(pair.substr(0, eq))) {
      out += pair.substr(0, eq + 1);
      out += "***";
    } else {
      out += pair;
    }
    if (amp < query.size()) out += '&';
    pos = amp + 1;
  }
  out += fragment;
  return out;
}

class RedactingFormatter final : public spdlog::formatter {
 public:
  explicit RedactingFormatter(std::unique_ptr<spdlog::formatter> inner)
      : inner_(std::move(inner)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t raw;
    inner_->format(msg, raw);
    const std::string_view text(raw.data(), raw.size());
    if (text.find("://") == std::string_view::npos) {
      dest.append(raw.data(), raw.data() + raw.size());
      return;
    }
    const std::string clean = redact_text(text);
    dest.append(clean.data(), clean.data() + clean.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RedactingFormatter>(inner_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

}  // namespace

std::string redact_url(std::string_view url) {
  return redact_text(url);
}

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  for (size_t pos = text.find("://"); pos != std::string_view::npos;
       pos = text.find("://", pos + 3)) {
    size_t start = pos;
    while (start > copied && scheme_char(text[start - 1])) --start;
    if (start == pos) continue;  // "://" without a scheme
    size_t end = pos + 3;
    while (end < text.size() && !url_end(text[end])) ++end;
    out += text.substr(copied, start - copied);
    out += redact_one(text.substr(start, end - start));
    copied = end;
    pos = end > 3 ? end - 3 : end;
    if (end >= text.size()) break;
  }
  out += text.substr(std::min(copied, text.size()));
  return out;
}

void redact_json(nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.find("://") != std::string::npos) j = redact_text(s);
  } else if (j.is_structured()) {
    for (auto& v : j) redact_json(v);
  }
}

void install_log_redaction(const std::string& pattern) {
  auto inner = pattern.empty() ? std::make_unique<spdlog::pattern_formatter>()
                               : std::make_unique<spdlog::pattern_formatter>(pattern);
  spdlog::set_formatter(std::make_unique<RedactingFormatter>(std::move(inner)));
}

}  // namespace ev
