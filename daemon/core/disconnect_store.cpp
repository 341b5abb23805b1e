// SPDX-License-Identifier: GPL-2.0-or-later
#include "disconnect_store.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "keepalive/escape.h"

namespace keepalive::daemon {

namespace {

using nlohmann::json;

// nlohmann-json converts -1 to a uint64_t and 70000 to a uint16_t without a word: checked here.
std::uint64_t unsignedOf(const json& j,
                         std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() > max)
    throw std::invalid_argument("not a number from 0 to " + std::to_string(max) + ": " + j.dump());
  return j.get<std::uint64_t>();
}

std::uint16_t portOf(const json& j) {
  return static_cast<std::uint16_t>(unsignedOf(j, 65535));
}

std::int64_t integerOf(const json& j) {
  if (!j.is_number_integer())
    throw std::invalid_argument("not an integer: " + j.dump());
  return j.get<std::int64_t>();
}

bool earlier(const DisconnectEvent& a, const DisconnectEvent& b) {
  return a.time_usec < b.time_usec;
}

bool validUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size())
        return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

// A JSON string, written straight into out: the events are most of the file, and a DOM of 100k
// of them took a quarter of a second to dump. A string that is not UTF-8 (a journal field may
// hold any bytes) is stored in the daemon's \xNN escaping, which is: nlohmann-json would refuse
// it on reading.
void appendString(std::string& out, std::string_view s) {
  if (!validUtf8(s)) {
    appendString(out, keepalive::escape(s, {.max = s.size() + 1}));
    return;
  }
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += '"';
}

DisconnectCause causeOf(const json& j) {
  const auto s = j.get<std::string>();
  auto c = disconnectCauseFromString(s);
  if (!c)
    throw std::invalid_argument("unknown cause \"" + s + "\"");
  return *c;
}

// [time, user, address, port, network, cause, duration]
DisconnectEvent eventFrom(const json& j) {
  if (!j.is_array() || j.size() != 7)
    throw std::invalid_argument(
        "an event is not [time, user, address, port, network, cause, "
        "duration]: " +
        j.dump(-1, ' ', false, json::error_handler_t::replace));
  DisconnectEvent e;
  e.time_usec = unsignedOf(j[0]);
  e.user = j[1].get<std::string>();
  e.address = j[2].get<std::string>();
  e.port = portOf(j[3]);
  e.network = j[4].get<std::string>();
  e.cause = causeOf(j[5]);
  e.duration_seconds = integerOf(j[6]);
  return e;
}

json sessionJson(const OpenSession& s) {
  json j = {{"boot_id", s.boot_id}, {"pid", s.pid},   {"user", s.user},
            {"address", s.address}, {"port", s.port}, {"start", s.start_usec},
            {"cause", nullptr}};
  if (s.cause)
    j["cause"] = toString(*s.cause);
  return j;
}

OpenSession sessionFrom(const json& j) {
  OpenSession s;
  s.boot_id = j.at("boot_id").get<std::string>();
  s.pid = unsignedOf(j.at("pid"));
  s.user = j.at("user").get<std::string>();
  s.address = j.at("address").get<std::string>();
  s.port = portOf(j.at("port"));
  s.start_usec = unsignedOf(j.at("start"));
  if (!j.at("cause").is_null())
    s.cause = causeOf(j.at("cause"));
  return s;
}

}  // namespace

DisconnectStore::DisconnectStore(std::size_t maxEvents, std::uint64_t maxAgeUsec)
    : maxEvents_(std::max<std::size_t>(maxEvents, 1)), maxAgeUsec_(maxAgeUsec) {}

void DisconnectStore::add(DisconnectEvent e) {
  ++totals_[{e.cause, e.network}];
  // The journal hands entries over in time order nearly always: the place is found from the back.
  auto at = std::upper_bound(events_.begin(), events_.end(), e, earlier);
  if (events_.size() >= maxEvents_ && at == events_.begin()) {
    ++evicted_;  // older than everything kept, and no room: it would be the one evicted
    return;
  }
  events_.insert(at, std::move(e));
  while (events_.size() > maxEvents_) {
    events_.pop_front();
    ++evicted_;
  }
}

void DisconnectStore::expire(std::uint64_t nowUsec) {
  if (nowUsec < maxAgeUsec_)
    return;
  const std::uint64_t cutoff = nowUsec - maxAgeUsec_;
  while (!events_.empty() && events_.front().time_usec < cutoff)
    events_.pop_front();
}

std::vector<DisconnectCount> DisconnectStore::counts(std::uint64_t nowUsec) const {
  const std::uint64_t from = nowUsec > kWindowUsec ? nowUsec - kWindowUsec : 0;
  std::map<std::pair<DisconnectCause, std::string>, std::uint64_t> in;
  for (auto it = events_.rbegin(); it != events_.rend() && it->time_usec >= from; ++it)
    if (it->time_usec <= nowUsec)
      ++in[{it->cause, it->network}];
  std::vector<DisconnectCount> out;
  for (const auto& [key, n] : in)
    out.push_back({key.first, key.second, n});
  return out;
}

std::vector<DisconnectCount> DisconnectStore::totals() const {
  std::vector<DisconnectCount> out;
  for (const auto& [key, n] : totals_)
    if (n > 0)
      out.push_back({key.first, key.second, n});
  return out;
}

std::optional<DisconnectEvent> DisconnectStore::last(DisconnectCause c) const {
  for (auto it = events_.rbegin(); it != events_.rend(); ++it)
    if (it->cause == c)
      return *it;
  return std::nullopt;
}

std::uint64_t DisconnectStore::coveredSince(std::uint64_t nowUsec) const {
  const std::uint64_t from = nowUsec > kWindowUsec ? nowUsec - kWindowUsec : 0;
  return std::max(from, since_);
}

std::optional<std::uint64_t> DisconnectStore::nextCountExpiry(std::uint64_t nowUsec) const {
  const std::uint64_t from = nowUsec > kWindowUsec ? nowUsec - kWindowUsec : 0;
  auto it =
      std::lower_bound(events_.begin(), events_.end(), from,
                       [](const DisconnectEvent& e, std::uint64_t t) { return e.time_usec < t; });
  if (it == events_.end())
    return std::nullopt;
  // counts() keeps an event while time >= now - 24 h: it leaves one microsecond later.
  return it->time_usec + kWindowUsec + 1;
}

std::vector<DisconnectEvent> DisconnectStore::query(const DisconnectQuery& q) const {
  std::vector<DisconnectEvent> out;
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->time_usec < q.since_usec)
      break;
    if ((q.cause && it->cause != *q.cause) || (!q.network.empty() && it->network != q.network) ||
        (!q.user.empty() && it->user != q.user))
      continue;
    out.push_back(*it);
    if (q.limit != 0 && out.size() >= q.limit)
      break;
  }
  return out;
}

std::string DisconnectStore::serialise() const {
  json totals = json::array();
  for (const auto& [key, n] : totals_)
    totals.push_back({{"cause", toString(key.first)}, {"network", key.second}, {"count", n}});
  json open = json::array();
  for (const auto& s : open_)
    open.push_back(sessionJson(s));
  std::string out;
  out.reserve(events_.size() * 80 + open_.size() * 160 + 4096);
  out += "{\"version\":" + std::to_string(kFormatVersion) + ",\"cursor\":";
  appendString(out, cursor_);
  out += ",\"since\":" + std::to_string(since_) + ",\"events\":[";
  const char* sep = "";
  for (const auto& e : events_) {
    out += sep;
    sep = ",";
    out += '[';
    out += std::to_string(e.time_usec);
    out += ',';
    appendString(out, e.user);
    out += ',';
    appendString(out, e.address);
    out += ',';
    out += std::to_string(e.port);
    out += ',';
    appendString(out, e.network);
    out += ",\"";
    out += toString(e.cause);
    out += "\",";
    out += std::to_string(e.duration_seconds);
    out += ']';
  }
  // Never throws: a name that is not UTF-8 is replaced (U+FFFD) rather than failing the save.
  out += "],\"totals\":" + totals.dump(-1, ' ', false, json::error_handler_t::replace) +
         ",\"open\":" + open.dump(-1, ' ', false, json::error_handler_t::replace) + "}\n";
  return out;
}

bool DisconnectStore::parse(const std::string& text, std::string* why) {
  try {
    const json doc = json::parse(text);
    if (!doc.is_object())
      throw std::invalid_argument("not a JSON object");
    const auto version = integerOf(doc.at("version"));
    if (version != kFormatVersion)
      throw std::invalid_argument("version " + std::to_string(version) + ", this daemon reads " +
                                  std::to_string(kFormatVersion));
    DisconnectStore in(maxEvents_, maxAgeUsec_);
    in.cursor_ = doc.at("cursor").get<std::string>();
    in.since_ = unsignedOf(doc.at("since"));
    if (!doc.at("totals").is_array() || !doc.at("events").is_array() || !doc.at("open").is_array())
      throw std::invalid_argument("totals, events and open must be lists");
    for (const auto& t : doc.at("totals")) {
      const std::uint64_t n = unsignedOf(t.at("count"));
      in.totals_[{causeOf(t.at("cause")), t.at("network").get<std::string>()}] += n;
    }
    // Events were counted in the totals when first added: placed without counting again.
    std::vector<DisconnectEvent> events;
    for (const auto& e : doc.at("events"))
      events.push_back(eventFrom(e));
    std::stable_sort(events.begin(), events.end(), earlier);
    const std::size_t skip = events.size() > maxEvents_ ? events.size() - maxEvents_ : 0;
    in.events_.assign(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(skip)),
                      std::make_move_iterator(events.end()));
    for (const auto& s : doc.at("open"))
      in.open_.push_back(sessionFrom(s));
    in.evicted_ = evicted_;
    *this = std::move(in);
    return true;
  } catch (const std::exception& e) {
    if (why)
      *why = e.what();
    return false;
  }
}

}  // namespace keepalive::daemon
