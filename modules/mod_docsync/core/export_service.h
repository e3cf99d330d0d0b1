// The primary's answers to the three content requests, independent of httpd: the handler passes
// a sink that writes to the client, the unit tests one that writes to a string. Every path is
// validated and opened beneath the export root without following symlinks, so a hostile
// secondary cannot read outside the export (rsync's CVE-2024-12086) or through a link in it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rsync_delta.h"

namespace docsync {

std::string serialise_batch_request(const std::vector<std::string>& paths);
// Newline-separated percent-encoded paths; bounded count and size; every path valid.
bool parse_batch_request(std::string_view body, std::vector<std::string>* paths,
                         std::string* error);

// Streams one frame per path (batch_stream.h). Returns false only if the sink failed.
bool serve_batch(int root_fd, const std::vector<std::string>& paths, const ByteSink& sink);

enum class ServeStatus { ok, bad_request, not_found, failed };

// The librsync delta from the client's signature to the current file.
ServeStatus serve_delta(int root_fd, const std::string& path, std::string_view signature,
                        const ByteSink& sink, std::string* error);

// Bytes [offset, offset+length) of a file (length 0: to the end).
ServeStatus serve_range(int root_fd, const std::string& path, std::uint64_t offset,
                        std::uint64_t length, const ByteSink& sink, std::string* error);

}  // namespace docsync
