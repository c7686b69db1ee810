// Secrets never leave the process: credentials in source URLs (rtsp://user:pass@host/...) and
// secret-looking query parameters are replaced by *** in every status, error, log line, metric
// label and API answer. One implementation, used everywhere.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ev {

// `scheme://user:pass@host/p?token=x` -> `scheme://***@host/p?token=***`. Anything that is not
// a URL with credentials comes back unchanged.
std::string redact_url(std::string_view url);

// Every URL inside free text (error messages, log lines) redacted as above.
std::string redact_text(std::string_view text);

// Every string value in `j` passed through redact_text (keys are left alone).
void redact_json(nlohmann::json& j);

// Makes every spdlog line pass through redact_text, whatever logged it: a backstop behind the
// call sites that redact themselves. Keeps the current pattern.
void install_log_redaction(const std::string& pattern = "");

}  // namespace ev
