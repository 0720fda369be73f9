#pragma once
// weft-chat: a multi-client line chat server. ChatProtocol is one client (a LineReceiver); ChatFactory
// builds them and is the room they share. docs/chat.md describes the wire protocol and walks through
// this code.

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weft/delayed_call.hpp"
#include "weft/log.hpp"
#include "weft/factory.hpp"
#include "weft/protocol.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {
class Reactor;
}  // namespace weft

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
    Duration idle_timeout{std::chrono::hours(1)};
    /// A client that has completed no line this long after connecting is disconnected; zero means never.
    Duration first_line_timeout{std::chrono::seconds(60)};
    /// Input budget: lines per second a client may send, commands included (a token bucket that holds
    /// flood_burst_seconds of it, so a paste of a few dozen lines goes through at once). Over budget its
    /// input is read at this rate. Zero turns the budget off.
    std::size_t flood_limit = 10;
    /// The byte budget that goes with it: flood_limit * flood_bytes_per_line bytes per second.
    static constexpr std::size_t flood_bytes_per_line = 1024;
    /// Seconds of budget a client starts with and may save up.
    static constexpr double flood_burst_seconds = 5;
    /// Connections from one IP address at once (NAT puts many users behind one); zero means no limit.
    std::size_t max_per_address = 100;

    /// The most a client may hold even within one turn: send_buffer_limit plus the larger of
    /// send_buffer_limit and 1 MiB. Past it a client is cut at once.
    [[nodiscard]] std::size_t hard_send_limit() const noexcept {
        return send_buffer_limit + std::max<std::size_t>(send_buffer_limit, 1024 * 1024);
    }
    /// Unread input a paused flooder may have buffered before it is cut: the transport stops reading
    /// when it is paused, so only a transport that ignored the pause could pass it.
    [[nodiscard]] std::size_t max_input_backlog() const noexcept {
        return std::max<std::size_t>(256 * 1024, 4 * max_line);
    }
    /// In a ChatPool: the bytes of broadcasts one reactor may have on their way to another (posted, not yet
    /// written to that reactor's clients) before it pauses reading its clients; it resumes them once every
    /// other reactor has fewer than half of it in flight from it. A quarter of what hard_send_limit() leaves
    /// above send_buffer_limit, so that a reactor catching up never gives a client that reads more than
    /// the hard limit allows.
    [[nodiscard]] std::size_t forward_cap() const noexcept {
        return std::max<std::size_t>(send_buffer_limit, 1024 * 1024) / 4;
    }
};

/// Names nobody may take (compared case-insensitively), so that no user poses as the server.
inline constexpr std::string_view reserved_nicks[] = {"server", "admin", "administrator", "operator",
                                                      "root",   "system", "weft",         "weft-chat"};
/// Departure notices sent one by one in a flush; beyond this many a summary line stands for the rest.
inline constexpr std::size_t max_departures_listed = 100;
/// Names /who lists; beyond this many it gives the count of the others.
inline constexpr std::size_t max_who_listed = 100;

/// True for a valid nickname: 1 to 32 characters of A-Z a-z 0-9 _ - (so no spaces, no "*", ":" or "!"
/// that would let a user's line pass for the server's, and no bidi controls).
[[nodiscard]] bool valid_nick(std::string_view name) noexcept;
/// True if `name` is one of reserved_nicks, in any case.
[[nodiscard]] bool reserved_nick(std::string_view name) noexcept;
/// The key under which a name is unique: ASCII letters folded to lower case ("Bob" and "bob" clash).
[[nodiscard]] std::string fold_nick(std::string_view name);

/// The /who reply for these names: "* online (N): a, b, c" sorted, only the first max_who_listed, then
/// "and K more".
[[nodiscard]] std::string who_line(std::vector<std::string_view> names);

/// Appends `text` to `out` made safe for any terminal: the result is valid UTF-8 without control
/// characters. Every C0 control but TAB, DEL, every C1 control (U+0080..U+009F) and every byte that is
/// not part of a well-formed UTF-8 sequence becomes '?'; everything else is kept as it is.
void append_sanitized(std::string& out, std::string_view text);

/// Counters for tests, benchmarks and logs.
struct ChatStats {
    std::uint64_t joined = 0;         ///< clients that entered the room
    std::uint64_t refused_full = 0;   ///< clients told "server full"
    std::uint64_t cut_slow = 0;       ///< clients cut off for not reading
    std::uint64_t cut_idle = 0;       ///< clients disconnected for idling or for no first line in time
    std::uint64_t refused_address = 0;  ///< clients refused for --max-per-address
    std::uint64_t flood_paused = 0;   ///< times a client's input was paused for being over its budget
    std::uint64_t cut_flood = 0;      ///< clients cut off for an input backlog over max_input_backlog()
    std::uint64_t departure_flushes = 0;  ///< batches of departure notices sent
    std::uint64_t lines_relayed = 0;  ///< chat lines and /me actions broadcast
    /// The most output the server ever held for one client, measured after each write: bounded by
    /// ChatOptions::hard_send_limit().
    std::size_t peak_buffered = 0;
    /// In a ChatPool: times this reactor paused reading its clients because another reactor lagged
    /// behind (ChatOptions::forward_cap()).
    std::uint64_t forward_holds = 0;
    /// In a ChatPool: the most bytes this reactor ever had in flight to another one, measured as it posts
    /// them: ChatOptions::forward_cap() plus at most one turn's lines.
    std::size_t peak_in_flight = 0;
};

/// The counters as weft-chat's statistics line (logged on SIGUSR1 and when it stops): "J joined, L lines
/// relayed, ..., H forward holds, P bytes peak in flight" (the last two stay 0 without --threads).
[[nodiscard]] std::string stats_summary(const ChatStats& stats);

class ChatFactory;
class ChatPool;

/// One chat client. Lines end with "\n" (a "\r" before it is dropped); the server's lines end with "\r\n".
///
/// Contract: it joins the room in connection_made (or is refused if the room is full, or its address has
/// max_per_address connections already) and leaves it exactly once: on /quit, on the peer's EOF, when cut
/// off (line too long, too slow, idle, no first line in time, input backlog), or at the latest in
/// connection_lost. It is half-closeable so that a peer's EOF is a departure it sees at once; it then
/// loses the connection, which flushes everything still owed to that peer before closing.
/// Input budget (ChatOptions::flood_limit): every line, command or not, costs one line and its bytes from a
/// token bucket; a client in debt has its reading paused until the bucket refills, so its lines are taken
/// at the budgeted rate, in order and none dropped (its EOF waits behind them too).
/// In a ChatPool, while its shard holds its clients for a lagging reactor (forward_cap()), the idle and
/// first-line timeouts cut no one, and on the resume both clocks move on by the time held: the server's own
/// lag never makes a client look idle, and its silence outside the holds still cuts it.
class ChatProtocol final : public protocols::LineReceiver, public HalfCloseable {
public:
    explicit ChatProtocol(ChatFactory& room);
    ~ChatProtocol() override;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// True while the client is in the room.
    [[nodiscard]] bool in_room() const noexcept { return slot_ != not_in_room; }
    /// Bytes received and not yet handled as lines (the input a paused flooder has buffered).
    [[nodiscard]] std::size_t input_backlog() const noexcept { return received_ - consumed_; }

    // Protocol
    void connection_made() override;
    void connection_lost(const Reason& reason) override;
    void data_received(std::string_view data) override;
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
    /// Cuts the client if idle or without a first line for too long; skipped while the shard holds it.
    void idle_check();
    /// On the end of a hold that lasted `held`: moves the idle and first-line clocks on by the time it was
    /// not read (to now at most), so that only its silence while read counts against the timeouts.
    void credit_hold(Duration held);
    /// Takes a line's cost from the bucket; pauses reading while the bucket is in debt.
    void charge(std::size_t bytes);
    void refill();
    /// Resumes reading once the input budget and the shard (ChatFactory::holding_) allow it.
    void flood_resume();
    void schedule_resume();
    [[nodiscard]] bool in_debt() const noexcept;
    [[nodiscard]] std::string log_prefix() const;

    ChatFactory& room_;
    std::string name_;
    std::string address_;              // the peer's IP address, for max_per_address
    std::size_t slot_ = not_in_room;  // index in the room's member list
    bool cut_ = false;                // cut off for being slow: aborted, about to leave
    bool over_limit_ = false;         // over send_buffer_limit: checked again once this turn has flushed
    bool counted_address_ = false;    // counts in the room's per-address table
    std::size_t added_since_mark_ = 0;  // bytes queued since it was found over the limit
    TimePoint connected_at_{};
    TimePoint last_activity_{};
    bool got_line_ = false;           // completed a line since connecting
    DelayedCall idle_timer_;
    // The input budget: tokens may go negative (debt); reading is paused until they are back to zero.
    double line_tokens_ = 0;
    double byte_tokens_ = 0;
    TimePoint refilled_at_{};
    DelayedCall flood_timer_;
    bool eof_pending_ = false;        // EOF came while lines were still waiting behind the budget
    std::uint64_t received_ = 0;
    std::uint64_t join_number_ = 0;   // in a ChatPool: its place in the room's order of joins (ChatRoster)
    std::uint64_t consumed_ = 0;
};

/// The room: builds a ChatProtocol per connection and holds the clients, their names and the limits.
///
/// Contract: every broadcast formats its line once into one shared immutable buffer written to every
/// client (Transport::write_shared), so a message costs no allocation per recipient (a line under 512
/// bytes is copied into each recipient's output, which costs less memory than a queue entry). A
/// client that still has more than send_buffer_limit unsent after the turn that queued it has flushed (it
/// does not read), or that would pass hard_send_limit() at any time, is aborted and leaves with
/// "left (too slow)": the server's memory stays bounded and nobody waits for it, while a client that reads
/// promptly survives a burst bigger than the limit. Clients leave only between broadcasts, never inside
/// one. After shutting_down() departures are no longer announced.
/// Departures are announced in batches: the first after a quiet spell goes out at once, the ones that
/// follow within departure_batch_interval are gathered and go out together, one shared buffer to every
/// member (never more than max_departures_listed lines, then a count), and before any later line to
/// everyone so that the order everyone sees is kept. So a mass departure (thousands timing out together)
/// costs each remaining member a few writes, not one per departure, and the memory it freed is handed
/// back to the system afterwards (malloc_trim).
/// `time` drives the idle timers (the Reactor, or testing::Clock in tests) and must outlive the factory.
///
/// A ChatPool (weft-chat --threads N) makes one ChatFactory per reactor, a shard of one room: the shard
/// holds the clients of its reactor and applies every rule above to them on that reactor's thread; what
/// it broadcasts it also hands, once per loop turn and as one shared buffer, to every other shard, which
/// writes it to its own clients. Names, max_clients, max_per_address and /who are the pool's ChatRoster's.
/// The bytes it has in flight to another shard are bounded (ChatOptions::forward_cap(): past it, it pauses
/// reading its clients until that shard catches up), and a departed client's name stays taken until every
/// other shard has delivered the notice.
class ChatFactory final : public Factory {
public:
    explicit ChatFactory(ReactorTime& time, ChatOptions options = {});
    /// Shard `index` of `pool`, on `reactor` (reactor `index` of the pool's ReactorPool). Made by ChatPool.
    ChatFactory(Reactor& reactor, ChatOptions options, ChatPool& pool, std::size_t index);
    ~ChatFactory() override;

    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;

    /// Tells every client "* server shutting down" (in a ChatPool: this shard's; each reactor's trigger
    /// tells its own). Call it from a "before shutdown" trigger: the reactor then flushes and closes every
    /// connection.
    void shutting_down();

    [[nodiscard]] const ChatOptions& options() const noexcept { return options_; }
    [[nodiscard]] const ChatStats& stats() const noexcept { return stats_; }
    /// Clients in this factory (in a ChatPool: on this shard's reactor).
    [[nodiscard]] std::size_t client_count() const noexcept { return members_.size(); }
    /// Clients in the whole room: client_count(), or in a ChatPool every shard's (its ChatRoster).
    [[nodiscard]] std::size_t room_count() const;
    /// The client called `name` (in any case), or nullptr. In a ChatPool: among this shard's clients.
    [[nodiscard]] ChatProtocol* find(std::string_view name) const;

    /// How long departures after the first of a burst are gathered before they are announced.
    static constexpr Duration departure_batch_interval = std::chrono::milliseconds(100);

private:
    friend class ChatProtocol;
    friend class ChatPool;

    /// Adds the client, welcomes it and tells the others. If the room is full or the client's address has
    /// max_per_address connections, nothing changes and the refusal line is returned ("! server full").
    std::string join(ChatProtocol& client);
    /// Removes the client and, unless shutting down, queues "* NAME <note>" for the others (see
    /// flush_departures()).
    void leave(ChatProtocol& client, std::string_view note);
    /// Sends the queued departure notices to everyone in the room, as one shared buffer.
    void flush_departures();
    /// Whether a connection from `address` may join (max_per_address); counts it if so.
    bool admit_address(ChatProtocol& client);
    void release_address(ChatProtocol& client);
    /// Hands freed heap back to the system once a mass departure is over.
    void schedule_trim();
    /// Renames the client and tells everyone, unless someone else holds the name in any case (false).
    /// The name must be valid.
    bool rename(ChatProtocol& client, std::string_view new_name);
    /// "* online (N): a, b, c" with the names sorted; only the first max_who_listed, then "and K more".
    [[nodiscard]] std::string who() const;

    /// Sends `line` + "\r\n" to everyone in the room.
    void broadcast(std::string line);
    /// The same, and in a ChatPool for the clients of other shards that joined as the `audience`-th or
    /// earlier (ChatRoster::joins()).
    void broadcast(std::string line, std::uint64_t audience);
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
    /// Writes `line` (whole "\r\n"-ended lines) to every client here, then reaps the ones it cut off.
    void deliver_to_members(const std::shared_ptr<const std::string>& line);
    /// In a ChatPool: queues a broadcast for the other shards; the turn's lines leave together. Pauses
    /// reading every client here (hold()) if that would put more than forward_cap() in flight to a shard.
    void forward(const std::shared_ptr<const std::string>& line, std::uint64_t audience);
    /// Hands the queued lines to every other shard, as one buffer.
    void send_outbox();
    /// Pauses reading every client here until forward_resume() finds every other shard caught up.
    void hold();
    /// Posted by a shard that caught up with this one: resumes reading the clients if none lags any more.
    void forward_resume();
    /// A shard's turn of broadcasts, handed to the others.
    struct Forwarded {
        std::shared_ptr<const std::string> all;  // the lines, in one buffer
        std::vector<std::pair<std::uint64_t, std::size_t>> lines;  // audience, end of the line in `all`
        std::uint64_t smallest_audience = 0;
        /// Names whose departure these lines announce: freed in the roster by the last shard to deliver them.
        std::vector<std::string> released;
        mutable std::atomic<std::size_t> countdown{0};
    };
    /// In a ChatPool, on this shard's thread: lines shard `from` broadcast (its turn's, in order). They
    /// wait in the inbox behind earlier ones, and while writing the first of them would put a client here
    /// over hard_send_limit(), for one flush (a reactor catching up lets its clients' output drain between
    /// batches instead of cutting them). Each line goes to the clients here that joined before it was sent
    /// (its audience): a client that joined while it travelled did not see it said, as in a single room.
    void receive(std::shared_ptr<const Forwarded> lines, std::size_t from);
    void drain_inbox();
    void deliver_forwarded(const Forwarded& lines);

    ReactorTime& time_;
    ChatOptions options_;
    ChatStats stats_;
    std::vector<ChatProtocol*> members_;  // in no particular order: removal swaps with the last
    std::unordered_map<std::string, ChatProtocol*> names_;  // by fold_nick(name)
    std::unordered_map<std::string, std::size_t> per_address_;  // connections per IP address
    std::vector<std::string> departures_;  // notices not yet sent ("* NAME left")
    std::size_t departures_unlisted_ = 0;  // departures beyond max_departures_listed in this batch
    DelayedCall departure_flush_;
    TimePoint last_departure_flush_{};
    std::size_t departed_since_trim_ = 0;
    DelayedCall trim_;
    std::vector<ChatProtocol*> cut_;  // cut off during a broadcast, leaving once it is over
    std::vector<ChatProtocol*> over_limit_;  // to check once the turn has flushed
    DelayedCall over_limit_check_;
    bool reaping_ = false;
    bool shutting_down_ = false;
    // In a ChatPool (null otherwise): the pool, this shard's index and reactor, and the broadcasts of this
    // turn not yet handed to the other shards.
    ChatPool* pool_ = nullptr;
    std::size_t shard_ = 0;
    Reactor* reactor_ = nullptr;
    std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> outbox_;  // audience, line
    std::size_t outbox_bytes_ = 0;
    bool outbox_posted_ = false;
    bool holding_ = false;  // clients' reading paused: a shard lags behind this one (forward_cap())
    TimePoint held_since_{};  // when holding_ was set: on the resume, the time held is credited to each client
    std::uint64_t departures_audience_ = 0;  // joins() at the latest departure in departures_
    std::vector<std::string> leaving_names_;  // departed, notice not yet forwarded: their names stay taken
    std::vector<std::string> outbox_names_;   // the same, travelling with outbox_
    struct Inbound {
        std::shared_ptr<const Forwarded> lines;
        std::size_t from;
    };
    std::deque<Inbound> inbox_;  // forwarded lines not yet written here
    DelayedCall inbox_drain_;
    bool inbox_waited_ = false;  // the inbox's first batch has waited for a flush already
    // Refusals and cut-offs repeat per connection under attack (a connect flood, a room of non-readers):
    // one record per second each, with the count of those held back.
    LogRateLimiter refusal_log_{std::chrono::seconds(1)};
    LogRateLimiter cut_log_{std::chrono::seconds(1)};
};

}  // namespace weft::chat
