#include "chat_protocol.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "chat_pool.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"
#include "weft/transport.hpp"

namespace weft::chat {

namespace {

constexpr std::string_view crlf = "\r\n";

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool plain_ascii(unsigned char c) noexcept { return (c >= 0x20 && c < 0x7f) || c == '\t'; }

bool continuation(unsigned char c) noexcept { return c >= 0x80 && c <= 0xbf; }

// The length of the well-formed UTF-8 sequence at s[0] (Unicode, Table 3-7), or 0 if there is none:
// overlong forms, surrogates and code points above U+10FFFF are not well-formed.
std::size_t utf8_sequence(std::string_view s) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = byte(0);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;  // overlong
        if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;  // overlong
        if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < len || byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t i = 2; i < len; ++i) {
        if (!continuation(byte(i))) return 0;
    }
    return len;
}

}  // namespace

bool valid_nick(std::string_view name) noexcept {
    if (name.empty() || name.size() > 32) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '-';
    });
}

bool reserved_nick(std::string_view name) noexcept {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return std::any_of(std::begin(reserved_nicks), std::end(reserved_nicks), [&](std::string_view r) {
        return r.size() == name.size() &&
               std::equal(r.begin(), r.end(), name.begin(), [&](char a, char b) { return a == lower(b); });
    });
}

std::string fold_nick(std::string_view name) {
    std::string out(name);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string who_line(std::vector<std::string_view> names) {
    // Only the first max_who_listed in order: the reply, and the work, stay bounded in a big room.
    const std::size_t listed = std::min(names.size(), max_who_listed);
    std::partial_sort(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(listed), names.end());
    std::string out = "* online (" + std::to_string(names.size()) + "):";
    for (std::size_t i = 0; i < listed; ++i) out.append(i == 0 ? " " : ", ").append(names[i]);
    if (listed < names.size()) out += ", and " + std::to_string(names.size() - listed) + " more";
    return out;
}

void append_sanitized(std::string& out, std::string_view text) {
    out.reserve(out.size() + text.size());
    while (!text.empty()) {
        // Copy the run of printable ASCII in one go: chat text is mostly that.
        std::size_t run = 0;
        while (run < text.size() && plain_ascii(static_cast<unsigned char>(text[run]))) ++run;
        out.append(text.substr(0, run));
        text.remove_prefix(run);
        if (text.empty()) break;

        const auto c = static_cast<unsigned char>(text[0]);
        std::size_t len = c < 0x80 ? 0 : utf8_sequence(text);
        // U+0080..U+009F are the C1 controls (0xC2 0x80..0x9F): terminals may act on them (CSI is U+009B).
        const bool c1_control = len == 2 && c == 0xc2 && static_cast<unsigned char>(text[1]) <= 0x9f;
        if (len == 0 || c1_control) {
            out.push_back('?');
            text.remove_prefix(len == 0 ? 1 : len);
            continue;
        }
        out.append(text.substr(0, len));
        text.remove_prefix(len);
    }
}

std::string stats_summary(const ChatStats& stats) {
    std::ostringstream out;
    out << stats.joined << " joined, " << stats.lines_relayed << " lines relayed, " << stats.cut_slow
        << " cut off as too slow, " << stats.cut_idle << " idle, " << stats.cut_flood << " flooding, "
        << stats.refused_full << " refused (full), " << stats.refused_address << " refused (per address), "
        << stats.forward_holds << " forward holds, " << stats.peak_in_flight << " bytes peak in flight";
    return out.str();
}

// ------------------------------------------------------------------------------------------ ChatProtocol

ChatProtocol::ChatProtocol(ChatFactory& room) : room_(room) {
    set_delimiter("\n");
    // --max-line counts the "\n"; LineReceiver's max_length does not.
    set_max_length(std::max<std::size_t>(room.options().max_line, 2) - 1);
}

ChatProtocol::~ChatProtocol() {
    if (idle_timer_.active()) idle_timer_.cancel();
    if (flood_timer_.active()) flood_timer_.cancel();
}

std::string ChatProtocol::log_prefix() const {
    return "[conn " + std::to_string(transport().id()) + " " + transport().peer().to_string() + "] ";
}

void ChatProtocol::connection_made() {
    const Address peer = transport().peer();
    name_ = peer.to_string();
    address_ = peer.host;
    // Every write of a loop turn leaves in one gather-write already; Nagle would only add latency.
    if (auto* tcp = transport().as_tcp()) tcp->set_tcp_nodelay(true);
    if (const std::string refusal = room_.join(*this); !refusal.empty()) {
        if (room_.refusal_log_.allow(room_.time_.now())) {
            WEFT_LOG(warning) << log_prefix() << "refused: " << refusal.substr(2) << LogRateLimiter::note(room_.refusal_log_);
        }
        transport().write(refusal + "\r\n");
        transport().lose_connection();
        return;
    }
    const ChatOptions& o = room_.options();
    connected_at_ = last_activity_ = refilled_at_ = room_.time_.now();
    if (o.flood_limit > 0) {
        line_tokens_ = static_cast<double>(o.flood_limit) * ChatOptions::flood_burst_seconds;
        byte_tokens_ = line_tokens_ * static_cast<double>(ChatOptions::flood_bytes_per_line);
    }
    const Duration first = o.first_line_timeout;
    const Duration idle = o.idle_timeout;
    if (first > Duration::zero() || idle > Duration::zero()) {
        arm_idle_timer(first > Duration::zero() && (idle == Duration::zero() || first < idle) ? first : idle);
    }
    if (room_.holding_) pause_producing();  // another reactor lags: read nobody here until it catches up
}

void ChatProtocol::data_received(std::string_view data) {
    received_ += data.size();
    LineReceiver::data_received(data);
    // Paused, the transport reads nothing more, so the backlog stays within one read; growing past the
    // bound means input keeps coming regardless, and holding it would cost unbounded memory.
    if (paused() && in_room() && !transport().disconnecting() && input_backlog() > room_.options().max_input_backlog()) {
        ++room_.stats_.cut_flood;
        room_.send(*this, "! flooding: more than " + std::to_string(room_.options().max_input_backlog()) +
                              " bytes of input waiting, disconnecting");
        leave_and_close("left (flooding)", "input backlog over the limit");
    }
}

void ChatProtocol::line_received(std::string_view line) {
    consumed_ += line.size() + 1;  // the "\n" too
    if (!in_room()) return;
    charge(line.size() + 1);
    // Only a complete line is activity (a trickle without newlines is not). A timestamp, not a timer reset:
    // the idle timer checks it when it fires.
    got_line_ = true;
    last_activity_ = room_.time_.now();
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    if (line.front() == '/') {
        const std::size_t space = line.find(' ');
        const std::string_view verb = line.substr(0, space);
        const std::string_view argument = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
        command(verb, argument);
        return;
    }
    std::string out;
    out.reserve(name_.size() + 2 + line.size() + crlf.size());
    out.append(name_).append(": ");
    append_sanitized(out, line);
    ++room_.stats_.lines_relayed;
    room_.broadcast(std::move(out));
}

void ChatProtocol::refill() {
    const ChatOptions& o = room_.options();
    const TimePoint now = room_.time_.now();
    const double elapsed = std::chrono::duration<double>(now - refilled_at_).count();
    refilled_at_ = now;
    const auto rate = static_cast<double>(o.flood_limit);
    const double max_lines = rate * ChatOptions::flood_burst_seconds;
    const double per_line = static_cast<double>(ChatOptions::flood_bytes_per_line);
    line_tokens_ = std::min(max_lines, line_tokens_ + elapsed * rate);
    byte_tokens_ = std::min(max_lines * per_line, byte_tokens_ + elapsed * rate * per_line);
}

bool ChatProtocol::in_debt() const noexcept {
    // A hair below zero is rounding (the timer ran when the debt was just paid), not debt.
    constexpr double epsilon = 1e-6;
    return line_tokens_ < -epsilon || byte_tokens_ < -epsilon;
}

void ChatProtocol::charge(std::size_t bytes) {
    const ChatOptions& o = room_.options();
    if (o.flood_limit == 0) return;
    refill();
    line_tokens_ -= 1;
    byte_tokens_ -= static_cast<double>(bytes);
    if (!in_debt()) return;
    // In debt: this line is handled, the next waits until the debt is paid. Pausing stops the
    // LineReceiver after this line and the transport's reading, so TCP flow control slows the sender.
    if (!paused()) {
        ++room_.stats_.flood_paused;
        WEFT_LOG(debug) << log_prefix() << name_ << " is over its input budget; reading paused";
        pause_producing();
    }
    schedule_resume();
}

void ChatProtocol::schedule_resume() {
    if (flood_timer_.active()) return;
    const auto rate = static_cast<double>(room_.options().flood_limit);
    const double wait = std::max(-line_tokens_ / rate,
                                 -byte_tokens_ / (rate * static_cast<double>(ChatOptions::flood_bytes_per_line)));
    // Whole microseconds, rounded up and at least one: a zero delay would run again before any time passed.
    const auto delay = std::chrono::microseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait * 1e6))));
    flood_timer_ = room_.time_.call_later(delay, [this] { flood_resume(); });
}

void ChatProtocol::flood_resume() {
    if (!in_room() || transport().disconnecting()) return;
    if (room_.options().flood_limit > 0) {
        refill();
        if (in_debt()) {
            return schedule_resume();  // still in debt (rounding): wait for the rest
        }
    }
    if (room_.holding_) return;  // the shard resumes it once the other reactors have caught up
    if (!paused()) return;
    resume_producing();  // delivers the lines that waited; the first one over budget pauses again
    if (eof_pending_ && !paused() && in_room() && !transport().disconnecting()) {
        eof_pending_ = false;
        leave_and_close("left", "closed by peer");
    }
}

void ChatProtocol::command(std::string_view verb, std::string_view argument) {
    if (verb == "/nick") {
        nick(trim(argument));
    } else if (verb == "/who") {
        room_.send(*this, room_.who());
    } else if (verb == "/me") {
        argument = trim(argument);
        if (argument.empty()) return room_.send(*this, "! usage: /me ACTION");
        // "NAME * ACTION": like every line from a user it starts with the user's name, so it cannot pass
        // for a server notice ("* ...").
        std::string out = name_ + " * ";
        append_sanitized(out, argument);
        ++room_.stats_.lines_relayed;
        room_.broadcast(std::move(out));
    } else if (verb == "/quit") {
        room_.send(*this, "* bye");
        leave_and_close("left", "quit");
    } else {
        std::string out = "! unknown command ";
        append_sanitized(out, verb.substr(0, 64));
        out += " (commands: /nick NAME, /who, /me ACTION, /quit)";
        room_.send(*this, std::move(out));
    }
}

void ChatProtocol::nick(std::string_view new_name) {
    if (!valid_nick(new_name)) {
        return room_.send(*this, "! invalid name: use 1 to 32 characters of A-Z a-z 0-9 _ -");
    }
    if (reserved_nick(new_name)) return room_.send(*this, "! reserved name: " + std::string(new_name));
    if (new_name == name_) return room_.send(*this, "! you are already known as " + name_);
    // Unique in any case ("Bob" and "bob" are one name); changing only the case of one's own name is fine.
    if (!room_.rename(*this, new_name)) return room_.send(*this, "! name taken: " + std::string(new_name));
}

void ChatProtocol::line_length_exceeded(std::string_view line) {
    consumed_ += line.size();
    if (!in_room()) return transport().lose_connection();  // refused (server full): already closing
    room_.send(*this, "! line too long (max " + std::to_string(room_.options().max_line) + " bytes)");
    leave_and_close("left", "line too long");
}

void ChatProtocol::read_connection_lost() {
    // Lines still waiting behind the input budget come first: the EOF is handled once they are.
    if (paused() && input_backlog() > 0 && in_room()) {
        eof_pending_ = true;
        return;
    }
    // The peer sent EOF. What we owe it is still queued; lose_connection() flushes it, then closes.
    leave_and_close("left", "closed by peer");
}

void ChatProtocol::leave_and_close(std::string_view note, std::string_view why) {
    // Not in the room any more if the last line we sent it just cut it off as too slow.
    if (in_room()) {
        WEFT_LOG(info) << log_prefix() << name_ << " left (" << why << ")";
        room_.leave(*this, note);
    }
    transport().lose_connection();
}

void ChatProtocol::connection_lost(const Reason& reason) {
    if (idle_timer_.active()) idle_timer_.cancel();
    if (flood_timer_.active()) flood_timer_.cancel();
    if (!in_room()) return;
    WEFT_LOG(info) << log_prefix() << name_ << " left (" << reason.to_string() << ")";
    room_.leave(*this, "left");
}

void ChatProtocol::arm_idle_timer(Duration delay) {
    idle_timer_ = room_.time_.call_later(delay, [this] { idle_check(); });
}

void ChatProtocol::idle_check() {
    if (!in_room() || transport().disconnecting()) return;
    // Held (ChatFactory::hold(): another reactor lags), this client is not read, so its silence says
    // nothing: the server's own lag must not cut it. No check and no timer now; the resume moves its
    // clocks on by the time held and checks again (credit_hold()).
    if (room_.holding_) return;
    const ChatOptions& o = room_.options();
    const TimePoint now = room_.time_.now();
    const auto seconds = [](Duration d) { return std::chrono::duration<double>(d).count(); };
    Duration next = Duration::max();
    if (!got_line_ && o.first_line_timeout > Duration::zero()) {
        const Duration waited = now - connected_at_;
        if (waited >= o.first_line_timeout) {
            ++room_.stats_.cut_idle;
            std::ostringstream text;
            text << "! no line within " << seconds(o.first_line_timeout) << " s of connecting, disconnecting";
            room_.send(*this, text.str());
            return leave_and_close("left (idle)", "no first line in time");
        }
        next = o.first_line_timeout - waited;
    }
    if (o.idle_timeout > Duration::zero()) {
        const Duration quiet = now - last_activity_;
        if (quiet >= o.idle_timeout) {
            ++room_.stats_.cut_idle;
            std::ostringstream text;
            text << "! idle for " << seconds(o.idle_timeout) << " s, disconnecting";
            room_.send(*this, text.str());
            return leave_and_close("left (idle)", "idle");
        }
        next = std::min(next, o.idle_timeout - quiet);
    }
    if (next != Duration::max()) arm_idle_timer(next);
}

void ChatProtocol::credit_hold(Duration held) {
    // Moved on by the time held, not restarted: the server's lag must not count against the client, but
    // its own silence before the hold must, or holds that recur (a reactor lagging under load) would keep
    // a silent client, or one that never sends a first line, in the room (and in max_clients and
    // max_per_address) for ever. Lines it sent while held wait unread in the kernel and are read right
    // after the resume, so the check below counts only the silence while it was read: a client that was
    // not due when the hold began is not due now. A clock set during the hold (it joined then) moves on
    // to now at most: the hold began before it.
    const TimePoint now = room_.time_.now();
    last_activity_ = std::min(now, last_activity_ + held);
    if (!got_line_) connected_at_ = std::min(now, connected_at_ + held);
    // Its timer may have fired during the hold (skipped, not re-armed): check and arm it again. One still
    // armed finds the clocks moved on when it fires, and re-arms for the rest.
    if (!idle_timer_.active()) idle_check();
}

// ------------------------------------------------------------------------------------------- ChatFactory

ChatFactory::ChatFactory(ReactorTime& time, ChatOptions options) : time_(time), options_(options) {}

ChatFactory::ChatFactory(Reactor& reactor, ChatOptions options, ChatPool& pool, std::size_t index)
    : time_(reactor), options_(options), pool_(&pool), shard_(index), reactor_(&reactor) {}

ChatFactory::~ChatFactory() {
    if (over_limit_check_.active()) over_limit_check_.cancel();
    if (departure_flush_.active()) departure_flush_.cancel();
    if (trim_.active()) trim_.cancel();
    if (inbox_drain_.active()) inbox_drain_.cancel();
}

std::unique_ptr<Protocol> ChatFactory::build_protocol(const Address& /*peer*/) {
    return std::make_unique<ChatProtocol>(*this);
}

std::size_t ChatFactory::room_count() const { return pool_ ? pool_->roster_.size() : members_.size(); }

ChatProtocol* ChatFactory::find(std::string_view name) const {
    auto it = names_.find(fold_nick(name));
    return it == names_.end() ? nullptr : it->second;
}

bool ChatFactory::admit_address(ChatProtocol& client) {
    if (options_.max_per_address == 0) return true;
    std::size_t& count = per_address_[client.address_];
    if (count >= options_.max_per_address) return false;
    ++count;
    client.counted_address_ = true;
    return true;
}

void ChatFactory::release_address(ChatProtocol& client) {
    if (!std::exchange(client.counted_address_, false)) return;
    auto it = per_address_.find(client.address_);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::string ChatFactory::join(ChatProtocol& client) {
    const auto refused_address = [&] {
        ++stats_.refused_address;
        return "! too many connections from your address (max " + std::to_string(options_.max_per_address) + ")";
    };
    if (pool_ != nullptr) {
        // Across the reactors: the roster counts, limits and names the whole room in one step.
        switch (pool_->roster_.join(client.name_, client.address_, client.join_number_)) {
            case ChatRoster::Admission::full: ++stats_.refused_full; return "! server full";
            case ChatRoster::Admission::address_full: return refused_address();
            case ChatRoster::Admission::admitted: break;
        }
        client.counted_address_ = true;
    } else {
        if (members_.size() >= options_.max_clients) {
            ++stats_.refused_full;
            return "! server full";
        }
        if (!admit_address(client)) return refused_address();
        // ip:port is unique among live connections; the loop only guards against a peer address reused
        // while its old connection is still in the room.
        while (names_.contains(fold_nick(client.name_))) client.name_ += '_';
    }
    // Told to those who joined before: in a ChatPool, a client that joined on another reactor while the
    // notice travelled does not get it (in one room it would not have either).
    broadcast("* " + client.name_ + " joined", client.join_number_ - 1);
    client.slot_ = members_.size();
    members_.push_back(&client);
    names_.emplace(fold_nick(client.name_), &client);
    ++stats_.joined;
    WEFT_LOG(info) << client.log_prefix() << client.name_ << " joined (" << members_.size() << " online)";
    send(client, "Welcome to the chat server, " + client.name_);
    return {};
}

void ChatFactory::leave(ChatProtocol& client, std::string_view note) {
    if (!client.in_room()) return;
    // Swap with the last member: O(1), and the order of recipients means nothing.
    ChatProtocol* last = members_.back();
    members_[client.slot_] = last;
    last->slot_ = client.slot_;
    members_.pop_back();
    client.slot_ = ChatProtocol::not_in_room;
    names_.erase(fold_nick(client.name_));
    if (pool_ != nullptr) {
        client.counted_address_ = false;
        // The name stays taken until every reactor has announced the departure: taken meanwhile on another
        // reactor, "* X is now known as NAME" could reach some clients before "* NAME left".
        const bool keep_name = !shutting_down_ && pool_->size() >= 2;
        pool_->roster_.leave(client.name_, client.address_, keep_name);
        if (keep_name) leaving_names_.push_back(client.name_);
    } else {
        release_address(client);
    }
    if (std::exchange(client.over_limit_, false)) {
        if (auto it = std::find(over_limit_.begin(), over_limit_.end(), &client); it != over_limit_.end()) {
            over_limit_.erase(it);
        }
    }
    if (++departed_since_trim_ >= 256) schedule_trim();
    if (shutting_down_) return;
    std::string notice = "* " + client.name_ + " " + std::string(note);
    // Told to those in the room now: in a ChatPool a client joining elsewhere before the batch leaves
    // does not hear it.
    departures_audience_ = pool_ != nullptr ? pool_->roster_.joins() : 0;
    const TimePoint now = time_.now();
    const bool quiet = departures_.empty() && !departure_flush_.active() &&
                       (stats_.departure_flushes == 0 || now - last_departure_flush_ >= departure_batch_interval);
    if (quiet) {
        // A lone departure goes out at once; the ones that follow it closely are gathered.
        last_departure_flush_ = now;
        ++stats_.departure_flushes;
        return broadcast(std::move(notice));
    }
    if (departures_.size() < max_departures_listed) {
        departures_.push_back(std::move(notice));
    } else {
        ++departures_unlisted_;
    }
    if (!departure_flush_.active()) {
        const TimePoint due = last_departure_flush_ + departure_batch_interval;
        departure_flush_ = time_.call_later(due > now ? due - now : Duration::zero(), [this] { flush_departures(); });
    }
}

void ChatFactory::flush_departures() {
    if (departure_flush_.active()) departure_flush_.cancel();
    if (departures_.empty()) return;
    std::string batch;
    for (const std::string& notice : departures_) batch.append(notice).append(crlf);
    if (departures_unlisted_ != 0) {
        batch.append("* " + std::to_string(departures_unlisted_) + " others left").append(crlf);
    }
    departures_.clear();
    departures_unlisted_ = 0;
    last_departure_flush_ = time_.now();
    ++stats_.departure_flushes;
    // One shared buffer for everyone; clients it cuts off leave after the loop, in a later batch.
    const auto shared = std::make_shared<const std::string>(std::move(batch));
    deliver_to_members(shared);
    forward(shared, departures_audience_);
}

void ChatFactory::schedule_trim() {
    // A second after the last departure of the burst: the departed connections are freed on the turns
    // that follow their close, and one trim at the end returns more than several in the middle.
    if (trim_.active()) trim_.cancel();
    trim_ = time_.call_later(std::chrono::seconds(1), [this] {
        departed_since_trim_ = 0;
#if defined(__GLIBC__)
        malloc_trim(0);
#endif
    });
}

bool ChatFactory::rename(ChatProtocol& client, std::string_view new_name) {
    if (pool_ != nullptr) {
        // As on a leave, the old name stays taken until every reactor has announced the change.
        const bool keep_old = !shutting_down_ && pool_->size() >= 2;
        if (!pool_->roster_.rename(client.name_, new_name, keep_old)) return false;
        if (keep_old && fold_nick(client.name_) != fold_nick(new_name)) leaving_names_.push_back(client.name_);
    } else if (const ChatProtocol* holder = find(new_name); holder != nullptr && holder != &client) {
        return false;
    }
    names_.erase(fold_nick(client.name_));
    std::string old = std::exchange(client.name_, std::string(new_name));
    names_.emplace(fold_nick(client.name_), &client);
    WEFT_LOG(info) << client.log_prefix() << old << " is now known as " << client.name_;
    broadcast("* " + old + " is now known as " + client.name_);
    return true;
}

std::string ChatFactory::who() const {
    if (pool_ != nullptr) return pool_->roster_.who();
    std::vector<std::string_view> names;
    names.reserve(members_.size());
    for (const ChatProtocol* m : members_) names.emplace_back(m->name_);
    return who_line(std::move(names));
}

void ChatFactory::shutting_down() {
    if (shutting_down_) return;
    WEFT_LOG(info) << "chat: shutting down, " << members_.size() << " clients online";
    if (pool_ != nullptr) {
        // Every shard tells its own clients (each reactor runs its own shutdown): not forwarded.
        flush_departures();
        deliver_to_members(std::make_shared<const std::string>(std::string("* server shutting down").append(crlf)));
    } else {
        broadcast("* server shutting down");
    }
    shutting_down_ = true;
}

void ChatFactory::broadcast(std::string line) {
    const std::uint64_t audience = pool_ != nullptr ? pool_->roster_.joins() : 0;
    broadcast(std::move(line), audience);
}

void ChatFactory::broadcast(std::string line, std::uint64_t audience) {
    flush_departures();  // departures announced before anything that came after them
    line.append(crlf);
    const auto shared = std::make_shared<const std::string>(std::move(line));
    deliver_to_members(shared);
    forward(shared, audience);
}

void ChatFactory::deliver_to_members(const std::shared_ptr<const std::string>& line) {
    // deliver() never changes members_: clients cut off here leave in reap_cut_clients(), after the loop.
    for (ChatProtocol* m : members_) deliver(*m, line);
    reap_cut_clients();
}

void ChatFactory::forward(const std::shared_ptr<const std::string>& line, std::uint64_t audience) {
    if (pool_ == nullptr || pool_->size() < 2) return;
    outbox_.emplace_back(audience, line);
    outbox_bytes_ += line->size();
    // Every line forwarded comes after the notices of the departures queued so far (broadcasts flush them
    // first): the names travel with it, to be freed once every shard has delivered it.
    for (std::string& name : leaving_names_) outbox_names_.push_back(std::move(name));
    leaving_names_.clear();
    if (!holding_ && outbox_bytes_ + pool_->most_in_flight(shard_) > options_.forward_cap()) hold();
    if (std::exchange(outbox_posted_, true)) return;
    // Once this turn is over: everything broadcast in it goes to each other shard in one post.
    reactor_->call_soon([this] { send_outbox(); });
}

void ChatFactory::send_outbox() {
    outbox_posted_ = false;
    if (outbox_.empty()) return;
    auto batch = std::make_shared<Forwarded>();
    batch->smallest_audience = outbox_.front().first;
    batch->lines.reserve(outbox_.size());
    if (outbox_.size() == 1) {
        batch->all = outbox_.front().second;
        batch->lines.emplace_back(outbox_.front().first, batch->all->size());
    } else {
        std::string joined;
        joined.reserve(outbox_bytes_);
        for (const auto& [audience, line] : outbox_) {
            joined.append(*line);
            batch->lines.emplace_back(audience, joined.size());
            batch->smallest_audience = std::min(batch->smallest_audience, audience);
        }
        batch->all = std::make_shared<const std::string>(std::move(joined));
    }
    outbox_.clear();
    outbox_bytes_ = 0;
    batch->released = std::move(outbox_names_);
    outbox_names_.clear();
    batch->countdown.store(pool_->size() - 1, std::memory_order_relaxed);
    const std::size_t most = pool_->hand_to_others(shard_, batch);
    stats_.peak_in_flight = std::max(stats_.peak_in_flight, most);
    if (!holding_ && most > options_.forward_cap()) hold();
}

void ChatFactory::hold() {
    // As the input budget pauses a flooder: TCP flow control then slows the talkers here, instead of
    // their lines piling up for the reactor that lags.
    holding_ = true;
    held_since_ = time_.now();
    ++stats_.forward_holds;
    WEFT_LOG(debug) << "chat: shard " << shard_ << " pauses reading its clients: another reactor lags behind";
    for (ChatProtocol* m : members_) {
        if (!m->paused()) m->pause_producing();
    }
}

void ChatFactory::forward_resume() {
    if (!holding_ || outbox_bytes_ + pool_->most_in_flight(shard_) > options_.forward_cap()) return;
    holding_ = false;
    // A copy: lines delivered on resuming may make clients leave (or hold again, which flood_resume sees).
    const std::vector<ChatProtocol*> members = members_;
    // Every client's clocks first: resuming one may hold again, and the time held so far must not count
    // for any of them.
    const Duration held = time_.now() - held_since_;
    for (ChatProtocol* m : members) m->credit_hold(held);
    for (ChatProtocol* m : members) m->flood_resume();
}

void ChatFactory::receive(std::shared_ptr<const Forwarded> lines, std::size_t from) {
    inbox_.push_back({std::move(lines), from});
    if (!inbox_drain_.active()) drain_inbox();
}

void ChatFactory::drain_inbox() {
    while (!inbox_.empty()) {
        const Inbound& next = inbox_.front();
        // After "* server shutting down" nothing more: this reactor is flushing and closing its clients.
        if (!shutting_down_ && !std::exchange(inbox_waited_, false)) {
            const std::size_t size = next.lines->all->size();
            const bool would_cut = std::any_of(members_.begin(), members_.end(), [&](const ChatProtocol* m) {
                return !m->cut_ && m->transport().buffered_bytes() + size > options_.hard_send_limit();
            });
            if (would_cut) {
                // Let the transports flush first (posted before this timer), and the over-limit check cut
                // the clients that do not read; then it goes, whatever it costs.
                inbox_waited_ = true;
                inbox_drain_ = time_.call_later(Duration::zero(), [this] { drain_inbox(); });
                return;
            }
        }
        const Inbound inbound = std::move(inbox_.front());
        inbox_.pop_front();
        if (!shutting_down_) deliver_forwarded(*inbound.lines);
        pool_->delivered(inbound.from, shard_, *inbound.lines);
    }
}

void ChatFactory::deliver_forwarded(const Forwarded& lines) {
    flush_departures();  // this shard's departures before any later line, as for its own broadcasts
    for (ChatProtocol* m : members_) {
        if (m->join_number_ <= lines.smallest_audience) {
            deliver(*m, lines.all);
            continue;
        }
        // Joined while these lines travelled (rare: only around a join): only those said after it joined.
        std::size_t begin = 0;
        for (const auto& [audience, end] : lines.lines) {
            if (m->join_number_ <= audience) {
                deliver(*m, std::make_shared<const std::string>(lines.all->substr(begin, end - begin)));
            }
            begin = end;
        }
    }
    reap_cut_clients();
}

void ChatFactory::send(ChatProtocol& client, std::string line) {
    // No flush_departures() here: a reply to one client ("! idle ...", to each of thousands timing out
    // together) must not break up the batch; only lines to everyone keep their order with departures.
    line.append(crlf);
    deliver(client, std::make_shared<const std::string>(std::move(line)));
    reap_cut_clients();
}

void ChatFactory::deliver(ChatProtocol& client, const std::shared_ptr<const std::string>& line) {
    if (client.cut_) return;
    Transport& t = client.transport();
    const std::size_t queued = t.buffered_bytes();
    if (queued + line->size() > options_.hard_send_limit()) return cut(client, queued);
    t.write_shared(line);
    const std::size_t now_queued = queued + line->size();
    stats_.peak_buffered = std::max(stats_.peak_buffered, now_queued);
    if (client.over_limit_) {
        client.added_since_mark_ += line->size();
    } else if (now_queued > options_.send_buffer_limit) {
        // Over the limit, but maybe only because this turn queued a burst that nothing could send yet:
        // judge once the transport's flush (posted by this write, before the check's timer) has run.
        client.over_limit_ = true;
        over_limit_.push_back(&client);
        mark_over_limit(client);
    }
}

void ChatFactory::mark_over_limit(ChatProtocol& client) {
    client.added_since_mark_ = 0;
    if (!over_limit_check_.active()) {
        over_limit_check_ = time_.call_later(Duration::zero(), [this] { check_over_limit(); });
    }
}

void ChatFactory::cut(ChatProtocol& client, std::size_t queued) {
    // It is not reading. Dropping its output (abort) is what keeps memory bounded; connection_lost comes on
    // a later turn, and it leaves the room as soon as the current broadcast is over.
    if (cut_log_.allow(time_.now())) {
        WEFT_LOG(warning) << client.log_prefix() << client.name_ << " is too slow (" << queued
                          << " bytes unsent); disconnecting" << LogRateLimiter::note(cut_log_);
    }
    client.cut_ = true;
    ++stats_.cut_slow;
    cut_.push_back(&client);
    client.transport().abort_connection();
}

void ChatFactory::check_over_limit() {
    std::vector<ChatProtocol*> still_over;
    for (ChatProtocol* client : std::exchange(over_limit_, {})) {
        if (client->cut_) {
            client->over_limit_ = false;
            continue;
        }
        const std::size_t queued = client->transport().buffered_bytes();
        // Output is sent in order: whatever of it is older than the mark and still unsent is the part
        // beyond the newest added_since_mark_ bytes.
        const std::size_t old_unsent = queued > client->added_since_mark_ ? queued - client->added_since_mark_ : 0;
        if (old_unsent > options_.send_buffer_limit) {
            client->over_limit_ = false;
            cut(*client, queued);
        } else if (queued > options_.send_buffer_limit) {
            still_over.push_back(client);  // it drained, but newer bursts keep it over: look again
            mark_over_limit(*client);
        } else {
            client->over_limit_ = false;
        }
    }
    over_limit_.insert(over_limit_.end(), still_over.begin(), still_over.end());
    reap_cut_clients();
}

void ChatFactory::reap_cut_clients() {
    if (reaping_) return;  // an outer call is draining the list
    reaping_ = true;
    // Each departure is itself a broadcast that may cut off more clients: loop until none is left.
    while (!cut_.empty()) {
        ChatProtocol* client = cut_.back();
        cut_.pop_back();
        leave(*client, "left (too slow)");
    }
    reaping_ = false;
}

}  // namespace weft::chat
