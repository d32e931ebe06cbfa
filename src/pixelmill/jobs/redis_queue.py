"""The job queue on Redis Streams, one consumer group per stream.

Keys: the stream `<prefix>:<stream>` and its dead letters `<prefix>:<stream>:dead`.

The bound and the trimming: a stream holds only messages not yet acknowledged, because `ack`
deletes the entry (XACK then XDEL, atomically). So XLEN is the backlog, and `put` refuses a
new message (503) when XLEN has reached `max_length`, checking and adding in one Lua script so
that concurrent API processes cannot overshoot. We never XADD with MAXLEN on a work stream:
MAXLEN drops the oldest entries whether they were processed or not, and a message the API has
accepted must not vanish. The price of XDEL is that a stream serves a single group (a second
group would lose the messages the first has acknowledged). The dead-letter stream is the one
place trimmed with MAXLEN ~ max_length: every dead letter was logged at ERROR when it died.

Redelivery: a message a consumer took and did not acknowledge stays pending; once idle longer
than `claim_idle_ms` another consumer (or the same one, for `retry_later`) takes it over with
XAUTOCLAIM, and its delivery count comes from XPENDING. A consumer looks for such messages
every `claim_idle_ms / 2` (at most every 5 s), not on every take: a round trip per message
saved, a takeover at most that much later. Taken-over messages come one per take, never in
a batch: a message that killed its consumer takes no other down with it the next time, and
once delivered more than `max_deliveries` times the worker dead-letters it unhandled. A
retry the handler asks for because something it needs is down (`counted=False`) sets the
delivery counter back (XCLAIM ... RETRYCOUNT), so an outage never pushes a message there.

Consumers: each worker process reads under its own name (`host:pid:service`), so every
restart adds one to the group. A worker that stops leaves the group (`leave`) when it holds
nothing; one killed is forgotten by the others once it holds nothing (its messages were taken
over) and has been idle `forget_idle_ms` (default 10 minutes, at least 10 × `claim_idle_ms`).
Both check and delete in one Lua script: a consumer holding a message is never deleted, since
XGROUP DELCONSUMER drops what it holds from the group's pending list.

Dead letters: `requeue_dead` checks the bound, XADDs the original fields to the stream and
XDELs the letter in one Lua script, so a letter runs again once, whoever asks twice.
Each letter has a brief under the same id in `<prefix>:<stream>:dead:brief` (short values
whole, long ones cut to their head, and their sizes), written, trimmed and removed with it
by the same scripts: `list_dead` reads only the briefs, so a listing never reads an image,
neither over the network nor inside Redis. When each message first failed is kept in a
hash, `<prefix>:<stream>:failing` (message id → ms), set by a counted `retry_later`, moved
into the letter by `dead_letter` and cleared by `ack`.

Outages: every Redis error becomes `QueueDown` (an `Unavailable`, 503) with a public detail
that names no host; redis-py reconnects on the next call, so one RedisQueue outlives a
restart of Redis. Groups lost with the data are created again when XREADGROUP says NOGROUP.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from pixelmill.jobs.queue import (
    BRIEF_BYTES,
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_FIELDS,
    DEAD_FIRST_FAILURE,
    DEAD_GROUP,
    DEAD_ID,
    DEAD_REASON,
    HEAD_BYTES,
    DeadLetter,
    Message,
    QueueDown,
    brief,
    check_fields,
    dead_stream,
    is_letter_id,
    queue_full,
)
from pixelmill.redis_client import as_text, public_reason

log = logging.getLogger("pixelmill.jobs")

# KEYS[1] stream; ARGV[1] max length, ARGV[2] how many messages, then for each message the
# number of its arguments and them: field, value, field, value, ... All are added, or none.
_PUT_BELOW_BOUND = """
local count = tonumber(ARGV[2])
if redis.call('XLEN', KEYS[1]) + count > tonumber(ARGV[1]) then
    return false
end
local ids = {}
local at = 3
for i = 1, count do
    local width = tonumber(ARGV[at])
    ids[i] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, at + 1, at + width))
    at = at + width + 1
end
return ids
"""

# Redis's time in ms, as a string: what the scripts date failures with, so that every date
# comes from one clock, in the order Redis took the writes, whatever the workers' clocks say
_NOW_MS = """
local function now_ms()
    local time = redis.call('TIME')
    return time[1] .. string.format('%03d', math.floor(tonumber(time[2]) / 1000))
end
"""

# KEYS[1] the first failures; ARGV[1] a message id: its first failure, dated once
_FIRST_FAILURE = (
    _NOW_MS
    + """
return redis.call('HSETNX', KEYS[1], ARGV[1], now_ms())
"""
)

# KEYS[1] stream, KEYS[2] dead stream, KEYS[3] first failures, KEYS[4] the letters' briefs;
# ARGV[1] group, ARGV[2] id, ARGV[3] dead max length, ARGV[4] the name of the field saying
# when it was given up on, ARGV[5] the name of the first failure's field, ARGV[6] how many
# arguments the letter's other fields take (n), ARGV[7..6+n] them, ARGV[7+n..] the brief's.
# Only a message still pending dies, and only once. The brief has the letter's id, and the
# two streams keep the same letters. When it was given up on is Redis's time (ms), read as
# the letter is filed: two workers giving up at once file their letters in that order.
_DEAD_LETTER = (
    _NOW_MS
    + """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
local now = now_ms()
local first = redis.call('HGET', KEYS[3], ARGV[2]) or now
redis.call('HDEL', KEYS[3], ARGV[2])
local n = tonumber(ARGV[6])
local id = redis.call(
    'XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', ARGV[5], first, ARGV[4], now,
    unpack(ARGV, 7, 6 + n))
redis.call('XADD', KEYS[4], id, ARGV[5], first, ARGV[4], now, unpack(ARGV, 7 + n))
redis.call('XTRIM', KEYS[4], 'MAXLEN', redis.call('XLEN', KEYS[2]))
return 1
"""
)

# KEYS[1] stream, KEYS[2] dead stream, KEYS[3] briefs; ARGV[1] max length, ARGV[2] letter
# id, ARGV[3..] the names of the fields the letter added. The letter's original fields go
# back on the stream and the letter (and its brief) goes, together: the new id; 0 without
# such a letter; -1 when full.
_REQUEUE_DEAD = """
local found = redis.call('XRANGE', KEYS[2], ARGV[2], ARGV[2])
if #found == 0 then
    return 0
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
    return -1
end
local added = {}
for i = 3, #ARGV do
    added[ARGV[i]] = true
end
local fields, kept = found[1][2], {}
for i = 1, #fields, 2 do
    if not added[fields[i]] then
        kept[#kept + 1] = fields[i]
        kept[#kept + 1] = fields[i + 1]
    end
end
local id = redis.call('XADD', KEYS[1], '*', unpack(kept))
redis.call('XDEL', KEYS[2], ARGV[2])
redis.call('XDEL', KEYS[3], ARGV[2])
return id
"""

# For letters that have no brief (dead before briefs were kept): KEYS[1] dead stream;
# ARGV[1] start, ARGV[2] count, ARGV[3] brief bytes, ARGV[4] head bytes. Each letter as {id,
# fields with the long values cut to their head, sizes}. It reads every letter whole inside
# Redis (a second for 100 letters of 1 MiB), which the briefs avoid.
_LIST_DEAD = """
local brief, head, out = tonumber(ARGV[3]), tonumber(ARGV[4]), {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])) do
    local raw, fields, sizes = entry[2], {}, {}
    for i = 1, #raw, 2 do
        local value = raw[i + 1]
        fields[#fields + 1] = raw[i]
        fields[#fields + 1] = #value > brief and string.sub(value, 1, head) or value
        sizes[#sizes + 1] = #value
    end
    out[#out + 1] = {entry[1], fields, sizes}
end
return out
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2] idle ms past which a consumer holding nothing is
# deleted, ARGV[3] a consumer deleted whenever it holds nothing, ARGV[4] one never deleted (""
# for none). Returns the names deleted.
_FORGET_CONSUMERS = """
local forgotten = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    return forgotten  -- no stream, no group: the next read creates them again
end
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
    local info = {}
    for i = 1, #row, 2 do
        info[row[i]] = row[i + 1]
    end
    local name = info['name']
    if info['pending'] == 0 and name ~= ARGV[4]
        and (name == ARGV[3] or info['idle'] >= tonumber(ARGV[2])) then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
        forgotten[#forgotten + 1] = name
    end
end
return forgotten
"""

_SIZES = "dead_sizes"  # a brief's field: the long values' sizes, as JSON

# XAUTOCLAIM looks at 10 × COUNT (here 1) pending entries per call; a take looks this many
# calls far.
_CLAIM_SCANS = 10
_MAX_CLAIM_EVERY_SECONDS = 5.0
FORGET_IDLE_MS = 10 * 60 * 1000
_FORGET_EVERY_SECONDS = 60.0


class RedisQueue:
    """JobQueue on Redis Streams; thread-safe, one instance per process.

    Its client is the process's one (`redis_client.connect`), shared and closed by its owner.
    No lock: the state kept here (groups made, claim cursors, when to claim or forget next)
    only saves round trips, and each is read or written by single dict and set operations,
    atomic on their own. Two threads racing on one stream at worst repeat an XGROUP CREATE
    (BUSYGROUP is ignored) or an XAUTOCLAIM scan, both harmless.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        max_length: int,
        claim_idle_ms: int,
        forget_idle_ms: int | None = None,
        forget_every_seconds: float = _FORGET_EVERY_SECONDS,
    ) -> None:
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is not None and socket_timeout < 1:
            raise ValueError("the client's socket_timeout must be at least 1 second")
        self._prefix = prefix
        self._max_length = max_length
        self._claim_idle_ms = claim_idle_ms
        self._claim_every = min(claim_idle_ms / 2000, _MAX_CLAIM_EVERY_SECONDS)
        self._next_claim: dict[tuple[str, str], float] = {}
        self._forget_idle_ms = forget_idle_ms or max(FORGET_IDLE_MS, 10 * claim_idle_ms)
        self._forget_every = forget_every_seconds
        self._next_forget: dict[tuple[str, str], float] = {}
        # a blocking read must return before the socket times out, or it would look like an outage
        self._max_block_ms = None if socket_timeout is None else int(socket_timeout * 1000) - 500
        self._redis = client
        self._put_below_bound = client.register_script(_PUT_BELOW_BOUND)
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._first_failure = client.register_script(_FIRST_FAILURE)
        self._requeue_dead = client.register_script(_REQUEUE_DEAD)
        self._list_dead = client.register_script(_LIST_DEAD)
        self._forget_consumers = client.register_script(_FORGET_CONSUMERS)
        self._groups: set[tuple[str, str]] = set()
        self._claim_cursors: dict[tuple[str, str], str] = {}
        self._waitaof: bool | None = None  # whether Redis has WAITAOF (7.2+), once asked
        self._fsync_checked_until = 0.0  # appendfsync always seen until then (before 7.2)

    def put(self, stream: str, fields: Mapping[str, bytes]) -> str:
        return self.put_many(stream, [fields])[0]

    def put_many(self, stream: str, messages: Sequence[Mapping[str, bytes]]) -> list[str]:
        arguments: list[Any] = [self._max_length, len(messages)]
        for fields in messages:
            check_fields(fields)
            arguments.append(2 * len(fields))
            for name, value in fields.items():
                arguments += [name, value]
        with self._reaching_redis():
            ids = self._put_below_bound(keys=[self._key(stream)], args=arguments)
        if ids is None:
            raise queue_full(stream, self._max_length)
        return [as_text(message_id) for message_id in ids]

    def put_durably(
        self, stream: str, fields: Mapping[str, bytes], durable: str, timeout_ms: int
    ) -> str:
        """`put`, answered once the message is on Redis's disk (`fsync`) or on a replica
        (`replica`); unconfirmed in TIMEOUT_MS it is taken back (XDEL) and `QueueDown` raised.

        WAIT and WAITAOF wait for the writes of their own connection, so the put and the wait
        go out together on one (a pipeline). Redis before 7.2 has no WAITAOF: there `fsync`
        holds only when Redis fsyncs every write before it answers (`appendonly yes`,
        `appendfsync always`), which is checked (every 10 s) instead, and refused otherwise.
        """
        if durable == "none":
            return self.put(stream, fields)
        check_fields(fields)
        arguments: list[Any] = [self._max_length, 1, 2 * len(fields)]
        for name, value in fields.items():
            arguments += [name, value]
        key = self._key(stream)
        with self._reaching_redis():
            wait: list[Any] = []
            if durable == "replica":
                wait = ["WAIT", 1, timeout_ms]
            elif self._has_waitaof():
                wait = ["WAITAOF", 1, 0, timeout_ms]
            else:
                self._check_fsync_always()
            pipe = self._redis.pipeline(transaction=False)
            self._put_below_bound(keys=[key], args=arguments, client=pipe)
            if wait:
                pipe.execute_command(*wait)  # type: ignore[no-untyped-call]
            replies = pipe.execute(raise_on_error=False)
        ids = replies[0]
        if isinstance(ids, Exception):
            raise QueueDown(f"queue unavailable: {public_reason(ids)}") from ids
        if ids is None:
            raise queue_full(stream, self._max_length)
        message_id = as_text(ids[0])
        if wait:
            confirmed = replies[1]
            copies = confirmed[0] if isinstance(confirmed, list) else confirmed
            if isinstance(confirmed, Exception) or int(copies) < 1:
                with self._reaching_redis():
                    self._redis.xdel(key, message_id)  # not answered 202: not kept either
                log.error(
                    "job %s taken back: %s did not confirm it: %s", message_id, wait[0], confirmed
                )
                where = "on a replica" if durable == "replica" else "on disk"
                raise QueueDown(f"queue unavailable: Redis did not confirm the job {where} in time")
        return message_id

    def _has_waitaof(self) -> bool:
        if self._waitaof is None:
            info: Any = self._redis.info("server")
            version = tuple(int(part) for part in str(info["redis_version"]).split(".")[:2])
            self._waitaof = version >= (7, 2)
        return self._waitaof

    def _check_fsync_always(self) -> None:
        if time.monotonic() < self._fsync_checked_until:
            return
        try:
            config: Any = self._redis.config_get("append*")
        except redis.ResponseError as error:  # CONFIG renamed or forbidden (managed Redis)
            raise QueueDown(
                "queue not durable: cannot read Redis's appendfsync (CONFIG GET refused) and "
                "Redis before 7.2 has no WAITAOF"
            ) from error
        values = {as_text(k): as_text(v) for k, v in config.items()}
        if values.get("appendonly") != "yes" or values.get("appendfsync") != "always":
            log.error(
                "PIXELMILL_REDIS_DURABLE_ACCEPT=fsync on Redis before 7.2 needs appendonly yes "
                "and appendfsync always; Redis has appendonly %s, appendfsync %s: jobs refused",
                values.get("appendonly"),
                values.get("appendfsync"),
            )
            raise QueueDown(
                "queue not durable: Redis does not fsync every write (appendfsync always)"
            )
        self._fsync_checked_until = time.monotonic() + 10.0

    def take(
        self, stream: str, group: str, consumer: str, *, count: int = 1, block_ms: int = 1000
    ) -> list[Message]:
        key = self._key(stream)
        with self._reaching_redis():
            self._ensure_group(key, group)
            try:
                return self._take(key, group, consumer, count, block_ms)
            except redis.ResponseError as error:
                if not str(error).startswith("NOGROUP"):
                    raise
                # Redis lost the group (restarted without persistence, or the key was deleted)
                self._forget_group(key, group)
                self._ensure_group(key, group)
                return self._take(key, group, consumer, count, block_ms)

    def ack(self, stream: str, group: str, *message_ids: str) -> None:
        if not message_ids:
            return
        key = self._key(stream)
        with self._reaching_redis():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(key, group, *message_ids)
            pipe.xdel(key, *message_ids)
            pipe.hdel(_failing(key), *message_ids)
            pipe.execute()

    def leave(self, stream: str, group: str, consumer: str) -> None:
        key = self._key(stream)
        with self._reaching_redis():
            try:
                self._forget(key, group, leaving=consumer)
            except redis.ResponseError as error:
                if not str(error).startswith("NOGROUP"):
                    raise

    def retry_later(
        self, stream: str, group: str, message: Message, *, counted: bool = True
    ) -> None:
        # Left pending: XAUTOCLAIM hands it out again once idle longer than claim_idle_ms,
        # which spaces the retries of a failing message. Not counted: the delivery counter
        # is set back by one (XCLAIM to the same consumer with RETRYCOUNT, which also starts
        # its idle time again).
        if counted:
            with self._reaching_redis():
                self._first_failure(keys=[_failing(self._key(stream))], args=[message.id])
            return
        if not message.consumer:
            return
        with self._reaching_redis():
            self._redis.xclaim(
                self._key(stream),
                group,
                message.consumer,
                0,
                [message.id],
                retrycount=max(message.deliveries - 1, 0),
                justid=True,
            )

    def dead_letter(self, stream: str, group: str, message: Message, reason: str) -> None:
        key = self._key(stream)
        letter = {
            **message.fields,
            DEAD_REASON: reason.encode(),
            DEAD_ID: message.id.encode(),
            DEAD_GROUP: group.encode(),
            DEAD_DELIVERIES: str(message.deliveries).encode(),
        }
        short = brief(letter)  # DEAD_AT and DEAD_FIRST_FAILURE: the script adds them
        fields = [item for pair in letter.items() for item in pair]
        sizes = json.dumps({n: size for n, size in short.sizes.items() if size > BRIEF_BYTES})
        summary = [item for pair in short.fields.items() for item in pair] + [_SIZES, sizes]
        arguments: list[Any] = [group, message.id, self._max_length, DEAD_AT, DEAD_FIRST_FAILURE]
        arguments += [len(fields), *fields, *summary]
        dead = self._key(dead_stream(stream))
        with self._reaching_redis():
            moved = self._dead_letter(
                keys=[key, dead, _failing(key), _briefs(dead)], args=arguments
            )
        if moved:
            log.error(
                "dead letter: message %s of %s (group %s) after %d deliveries: %s",
                message.id,
                stream,
                group,
                message.deliveries,
                reason,
            )
        else:
            log.warning(
                "message %s of %s was no longer pending; not dead-lettered", message.id, stream
            )

    def dead_letters(self, stream: str, *, count: int = 100) -> list[Message]:
        with self._reaching_redis():
            entries: Any = self._redis.xrange(self._key(dead_stream(stream)), count=count)
        letters = []
        for entry_id, fields in entries:
            decoded = _fields(fields)
            letters.append(
                Message(as_text(entry_id), decoded, int(decoded.get(DEAD_DELIVERIES, b"0")))
            )
        return letters

    def list_dead(self, stream: str, *, count: int = 100, after: str = "") -> list[DeadLetter]:
        start = f"({after}" if after and is_letter_id(after) else "-"
        dead = self._key(dead_stream(stream))
        with self._reaching_redis():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xlen(dead)
            pipe.xlen(_briefs(dead))
            pipe.xrange(_briefs(dead), start, "+", count=count)
            letters, briefs, entries = pipe.execute()
            if letters == briefs:
                return [_from_brief(entry_id, fields) for entry_id, fields in entries]
            reply: Any = self._list_dead(keys=[dead], args=[start, count, BRIEF_BYTES, HEAD_BYTES])
        letters = []
        for entry_id, flat, sizes in reply:
            names = [as_text(name) for name in flat[::2]]
            letters.append(
                DeadLetter(
                    as_text(entry_id),
                    dict(zip(names, flat[1::2], strict=True)),
                    dict(zip(names, (int(size) for size in sizes), strict=True)),
                )
            )
        return letters

    def get_dead(self, stream: str, letter_id: str) -> Message | None:
        if not is_letter_id(letter_id):
            return None
        key = self._key(dead_stream(stream))
        with self._reaching_redis():
            entries: Any = self._redis.xrange(key, letter_id, letter_id)
        if not entries:
            return None
        fields = _fields(entries[0][1])
        return Message(letter_id, fields, int(fields.get(DEAD_DELIVERIES, b"0")))

    def requeue_dead(self, stream: str, letter_id: str) -> str | None:
        if not is_letter_id(letter_id):
            return None
        dead = self._key(dead_stream(stream))
        with self._reaching_redis():
            moved: Any = self._requeue_dead(
                keys=[self._key(stream), dead, _briefs(dead)],
                args=[self._max_length, letter_id, *sorted(DEAD_FIELDS)],
            )
        if moved == 0:
            return None
        if moved == -1:
            raise queue_full(stream, self._max_length)
        return as_text(moved)

    def delete_dead(self, stream: str, letter_id: str) -> bool:
        if not is_letter_id(letter_id):
            return False
        dead = self._key(dead_stream(stream))
        with self._reaching_redis():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xdel(dead, letter_id)
            pipe.xdel(_briefs(dead), letter_id)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def depth(self, stream: str) -> int:
        with self._reaching_redis():
            length: Any = self._redis.xlen(self._key(stream))
        return int(length)

    def pending(self, stream: str, group: str) -> int:
        with self._reaching_redis():
            try:
                summary: Any = self._redis.xpending(self._key(stream), group)
            except redis.ResponseError as error:
                if str(error).startswith("NOGROUP"):
                    return 0
                raise
        return int(summary["pending"])

    def dead(self, stream: str) -> int:
        with self._reaching_redis():
            length: Any = self._redis.xlen(self._key(dead_stream(stream)))
        return int(length)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        pass  # the client is the process's, closed by its owner

    def _take(
        self, key: str, group: str, consumer: str, count: int, block_ms: int
    ) -> list[Message]:
        now = time.monotonic()
        if now >= self._next_forget.get((key, group), 0.0):
            self._next_forget[(key, group)] = now + self._forget_every
            self._forget(key, group, keeping=consumer)
        if now >= self._next_claim.get((key, group), 0.0):
            reclaimed = self._reclaim(key, group, consumer)
            if reclaimed:
                return reclaimed  # and look again at the next take: there may be more
            self._next_claim[(key, group)] = now + self._claim_every
        block = None if block_ms <= 0 else min(block_ms, self._max_block_ms or block_ms)
        reply: Any = self._redis.xreadgroup(group, consumer, {key: ">"}, count=count, block=block)
        messages = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                messages.append(Message(as_text(entry_id), _fields(fields), 1, consumer))
        return messages

    def _reclaim(self, key: str, group: str, consumer: str) -> list[Message]:
        """Take over the next message pending longer than claim_idle_ms, with its delivery
        count; one at a time, so that a message that killed its consumer takes no other down."""
        claimed: list[tuple[str, dict[str, bytes]]] = []
        for _ in range(_CLAIM_SCANS):
            start = self._claim_cursors.get((key, group), "0-0")
            reply: Any = self._redis.xautoclaim(
                key, group, consumer, self._claim_idle_ms, start, count=1
            )
            cursor, entries = as_text(reply[0]), reply[1]
            self._claim_cursors[(key, group)] = cursor
            # entries deleted while pending come back empty (Redis 6.2) and are dropped
            claimed = [(as_text(i), _fields(f)) for i, f in entries if i is not None and f]
            if claimed or cursor == "0-0":
                break
        if not claimed:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for entry_id, _ in claimed:
            pipe.xpending_range(key, group, entry_id, entry_id, 1)
        details = pipe.execute()
        messages = []
        for (entry_id, fields), detail in zip(claimed, details, strict=True):
            if detail:  # else acknowledged in between by its previous consumer
                delivered = int(detail[0]["times_delivered"])
                messages.append(Message(entry_id, fields, delivered, consumer))
        return messages

    def _forget(self, key: str, group: str, *, leaving: str = "", keeping: str = "") -> None:
        """Delete the consumers that hold nothing and are idle long, and `leaving` if it holds
        nothing; never `keeping`."""
        names: Any = self._forget_consumers(
            keys=[key], args=[group, self._forget_idle_ms, leaving, keeping]
        )
        gone = sorted(as_text(name) for name in names if as_text(name) != leaving)
        if gone:
            log.info(
                "forgot %d consumer(s) of %s that held nothing and were idle over %d s: %s",
                len(gone),
                key,
                self._forget_idle_ms // 1000,
                ", ".join(gone),
            )

    def _ensure_group(self, key: str, group: str) -> None:
        if (key, group) in self._groups:
            return
        try:
            # from the stream's start: messages put before the first worker came are kept
            self._redis.xgroup_create(key, group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):
                raise
        self._groups.add((key, group))

    def _forget_group(self, key: str, group: str) -> None:
        self._groups.discard((key, group))
        self._claim_cursors.pop((key, group), None)
        self._next_claim.pop((key, group), None)
        self._next_forget.pop((key, group), None)

    def _key(self, stream: str) -> str:
        return f"{self._prefix}:{stream}"

    @contextmanager
    def _reaching_redis(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            raise QueueDown(f"queue unavailable: {public_reason(error)}") from error


def _briefs(dead: str) -> str:
    """The stream of the dead letters' briefs (short values whole, long ones cut, and the
    long ones' sizes), one per letter under the letter's id: listings read only these."""
    return f"{dead}:brief"


def _from_brief(entry_id: bytes, raw: Mapping[bytes, bytes]) -> DeadLetter:
    fields = _fields(raw)
    sizes = {name: len(value) for name, value in fields.items()}
    sizes |= json.loads(fields.pop(_SIZES, b"{}"))
    sizes.pop(_SIZES, None)
    return DeadLetter(as_text(entry_id), fields, sizes)


def _failing(key: str) -> str:
    """The hash of when each message of the stream at KEY first failed."""
    return f"{key}:failing"


def _fields(raw: Mapping[bytes, bytes]) -> dict[str, bytes]:
    return {as_text(name): value for name, value in raw.items()}
