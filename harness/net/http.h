// A service's network, as a scenario reaches it: whether something accepts connections on a
// TCP address or a unix socket, and a small HTTP/1.1 client (one request per connection,
// Connection: close; Content-Length, chunked or read-to-close bodies; http:// only). Enough to
// drive and probe a service under test; not a general client (no TLS, no redirects, no proxy).
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "diag/error.h"

namespace bpfault::net {

// Connects to "HOST:PORT" (a name, an IPv4 address or [IPv6]) and closes at once: true when a
// connection was accepted within `timeout`. The error says what happened (refused, unreachable).
Result<void> connect_tcp(const std::string& host_port, std::chrono::milliseconds timeout);
Result<void> connect_unix(const std::string& path);

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // the whole exchange: connect, send, receive
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                            // decoded (chunked) when it was chunked
};

// One exchange. An error (kind environment) says where it stopped: the URL (bad_input), the
// connection, the time limit, a malformed answer.
Result<HttpResponse> request(const HttpRequest& req);

}  // namespace bpfault::net
