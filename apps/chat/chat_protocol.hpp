#pragma once
// weft-chat: a multi-client line chat server. ChatProtocol is one client (a LineReceiver); ChatFactory
// builds them and is the room they share. docs/chat.md describes the wire protocol and walks through
// this code.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "weft/delayed_call.hpp"
#include "weft/factory.hpp"
#include "weft/protocol.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft::chat {

/// The server's limits; the defaults are weft-chat's command-line defaults.
struct ChatOptions {
    /// Longest line a client may send, its "\n" included.
    std::size_t max_line = 4096;
    /// Clients in the room at once; the next one is told "! server full" and closed.
    std::size_t max_clients = 10000;
    /// Bytes the server may hold for one client that is not reading: a client that still has more than this
    /// unsent once the loop turn that queued it has flushed is cut off. Within one turn (one burst of
    /// broadcasts, before anything could be sent) a client may briefly hold up to hard_send_limit().
    std::size_t send_buffer_limit = 1024 * 1024;
    /// A client that completes no line for this long is disconnected (bytes without a newline do not
    /// count, so a slow trickle is cut too); zero means never.
    Duration idle_timeout{0};

    /// The most a client may hold even within one turn: send_buffer_limit plus the larger of
    /// send_buffer_limit and 1 MiB. Past it a client is cut at once.
    [[nodiscard]] std::size_t hard_send_limit() const noexcept {
        return send_buffer_limit + std::max<std::size_t>(send_buffer_limit, 1024 * 1024);
    }
};

/// True for a valid nickname: 1 to 32 characters of A-Z a-z 0-9 _ -.
[[nodiscard]] bool valid_nick(std::string_view name) noexcept;

/// Appends `text` to `out` made safe for any terminal: the result is valid UTF-8 without control
/// characters. Every C0 control but TAB, DEL, every C1 control (U+0080..U+009F) and every byte that is
/// not part of a well-formed UTF-8 sequence becomes '?'; everything else is kept as it is.
void append_sanitized(std::string& out, std::string_view text);

/// Counters for tests, benchmarks and logs.
struct ChatStats {
    std::uint64_t joined = 0;         ///< clients that entered the room
    std::uint64_t refused_full = 0;   ///< clients told "server full"
    std::uint64_t cut_slow = 0;       ///< clients cut off for not reading
    std::uint64_t cut_idle = 0;       ///< clients disconnected for idling
    std::uint64_t lines_relayed = 0;  ///< chat lines and /me actions broadcast
    /// The most output the server ever held for one client, measured after each write: bounded by
    /// ChatOptions::hard_send_limit().
    std::size_t peak_buffered = 0;
};

class ChatFactory;

/// One chat client. Lines end with "\n" (a "\r" before it is dropped); the server's lines end with "\r\n".
///
/// Contract: it joins the room in connection_made (or is refused if the room is full) and leaves it
/// exactly once: on /quit, on the peer's EOF, when cut off (line too long, too slow, idle), or at the
/// latest in connection_lost. It is half-closeable so that a peer's EOF is a departure it sees at once;
/// it then loses the connection, which flushes everything still owed to that peer before closing.
class ChatProtocol final : public protocols::LineReceiver, public HalfCloseable {
public:
    explicit ChatProtocol(ChatFactory& room);
    ~ChatProtocol() override;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// True while the client is in the room.
    [[nodiscard]] bool in_room() const noexcept { return slot_ != not_in_room; }

    // Protocol
    void connection_made() override;
    void connection_lost(const Reason& reason) override;
    // LineReceiver
    void line_received(std::string_view line) override;
    void line_length_exceeded(std::string_view line) override;
    // HalfCloseable
    void read_connection_lost() override;

private:
    friend class ChatFactory;
    static constexpr std::size_t not_in_room = static_cast<std::size_t>(-1);

    void command(std::string_view verb, std::string_view argument);
    void nick(std::string_view new_name);
    /// Leaves the room (telling the others `note`) and closes after flushing what we owe the client.
    void leave_and_close(std::string_view note, std::string_view why);
    void arm_idle_timer(Duration delay);
    void idle_check();
    [[nodiscard]] std::string log_prefix() const;

    ChatFactory& room_;
    std::string name_;
    std::size_t slot_ = not_in_room;  // index in the room's member list
    bool cut_ = false;                // cut off for being slow: aborted, about to leave
    bool over_limit_ = false;         // over send_buffer_limit: checked again once this turn has flushed
    std::size_t added_since_mark_ = 0;  // bytes queued since it was found over the limit
    TimePoint last_activity_{};
    DelayedCall idle_timer_;
};

/// The room: builds a ChatProtocol per connection and holds the clients, their names and the limits.
///
/// Contract: every broadcast formats its line once into one shared immutable buffer written to every
/// client (Transport::write_shared), so a message costs no copy and no allocation per recipient. A
/// client that still has more than send_buffer_limit unsent after the turn that queued it has flushed (it
/// does not read), or that would pass hard_send_limit() at any time, is aborted and leaves with
/// "left (too slow)": the server's memory stays bounded and nobody waits for it, while a client that reads
/// promptly survives a burst bigger than the limit. Clients leave only between broadcasts, never inside
/// one. After shutting_down() departures are no longer announced.
/// `time` drives the idle timers (the Reactor, or testing::Clock in tests) and must outlive the factory.
class ChatFactory final : public Factory {
public:
    explicit ChatFactory(ReactorTime& time, ChatOptions options = {});
    ~ChatFactory() override;

    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;

    /// Tells every client "* server shutting down". Call it from a "before shutdown" trigger: the reactor
    /// then flushes and closes every connection.
    void shutting_down();

    [[nodiscard]] const ChatOptions& options() const noexcept { return options_; }
    [[nodiscard]] const ChatStats& stats() const noexcept { return stats_; }
    [[nodiscard]] std::size_t client_count() const noexcept { return members_.size(); }
    /// The client called `name`, or nullptr.
    [[nodiscard]] ChatProtocol* find(std::string_view name) const;

private:
    friend class ChatProtocol;

    /// Adds the client, welcomes it and tells the others; false (and nothing changed) if the room is full.
    bool join(ChatProtocol& client);
    /// Removes the client and, unless shutting down, tells the others "* NAME <note>".
    void leave(ChatProtocol& client, std::string_view note);
    /// Renames the client and tells everyone; the name must be valid and free.
    void rename(ChatProtocol& client, std::string_view new_name);
    /// "* online (N): a, b, c" with the names sorted.
    [[nodiscard]] std::string who() const;

    /// Sends `line` + "\r\n" to everyone in the room.
    void broadcast(std::string line);
    /// Sends `line` + "\r\n" to one client.
    void send(ChatProtocol& client, std::string line);
    /// Writes a finished line to one client, or cuts the client off if it would pass the hard limit.
    void deliver(ChatProtocol& client, const std::shared_ptr<const std::string>& line);
    /// Aborts a client that does not read; it leaves in reap_cut_clients().
    void cut(ChatProtocol& client, std::size_t queued);
    /// Runs after the turn's flush: cuts the clients whose output from before the mark is still unsent
    /// beyond send_buffer_limit; the ones kept over it only by newer output are checked again.
    void check_over_limit();
    void mark_over_limit(ChatProtocol& client);
    /// Makes the clients cut off during a broadcast leave, once no broadcast is running.
    void reap_cut_clients();

    ReactorTime& time_;
    ChatOptions options_;
    ChatStats stats_;
    std::vector<ChatProtocol*> members_;  // in no particular order: removal swaps with the last
    std::unordered_map<std::string, ChatProtocol*> names_;
    std::vector<ChatProtocol*> cut_;  // cut off during a broadcast, leaving once it is over
    std::vector<ChatProtocol*> over_limit_;  // to check once the turn has flushed
    DelayedCall over_limit_check_;
    bool reaping_ = false;
    bool shutting_down_ = false;
};

}  // namespace weft::chat
