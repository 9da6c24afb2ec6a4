import NewsroomRedis

/// The broker's server-side scripts: each keeps one topic consistent in one round trip. The keys of a
/// topic share the hash tag `{<topic>}`, so in a Redis Cluster they live on one node.
enum BrokerScripts {
    /// Sequences, stores and broadcasts a batch.
    ///
    /// `KEYS`: meta hash, event stream, lease. `ARGV`: live channel, epoch candidate, owner ('' for none),
    /// stream max length, retention ms, epoch placeholder token, '1' if the batch ends the topic, '1' to
    /// SPUBLISH (cluster), then one JSON tail per event (the event JSON without its opening `{"seq":N,`).
    /// Returns `{first seq, last seq, epoch}`, or an error `TOPIC_ENDED` / `NOT_OWNER`.
    ///
    /// The live message is `epoch:<epoch>` then one event JSON per line, so that every mirror knows
    /// which history the events belong to (a new epoch: the store lost the topic and it began again).
    static let publish = RedisScript(
        """
        local meta, stream, lease = KEYS[1], KEYS[2], KEYS[3]
        local channel, candidate, owner = ARGV[1], ARGV[2], ARGV[3]
        local maxlen, retention, token = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
        local terminal, sharded = ARGV[7] == '1', ARGV[8] == '1'
        if redis.call('HGET', meta, 'state') == 'ended' then
          return redis.error_reply('TOPIC_ENDED the topic has ended')
        end
        if owner ~= '' and redis.call('GET', lease) ~= owner then
          return redis.error_reply('NOT_OWNER this node no longer holds the generation lease')
        end
        local epoch = redis.call('HGET', meta, 'epoch')
        if not epoch then
          epoch = candidate
          redis.call('HSET', meta, 'epoch', epoch)
        end
        local head = tonumber(redis.call('HGET', meta, 'head') or '0')
        local first = head + 1
        local out = {}
        for i = 9, #ARGV do
          head = head + 1
          local tail = ARGV[i]
          local s, e = string.find(tail, token, 1, true)
          if s then tail = string.sub(tail, 1, s - 1) .. epoch .. string.sub(tail, e + 1) end
          local json = '{"seq":' .. head .. ',' .. tail
          redis.call('XADD', stream, 'MAXLEN', '~', maxlen, head .. '-1', 'e', json)
          out[#out + 1] = json
        end
        redis.call('HSET', meta, 'head', head, 'state', terminal and 'ended' or 'streaming')
        if owner ~= '' then redis.call('HSET', meta, 'owner', owner) end
        if terminal then redis.call('HDEL', meta, 'owner') end
        redis.call('PEXPIRE', meta, retention)
        redis.call('PEXPIRE', stream, retention)
        local message = 'epoch:' .. epoch .. '\\n' .. table.concat(out, '\\n')
        if sharded then
          redis.call('SPUBLISH', channel, message)
        else
          redis.call('PUBLISH', channel, message)
        end
        return {first, head, epoch}
        """)

    /// Ends a topic whose generation's owner is gone: if the topic is streaming, names an owner, and the
    /// owner's lease has expired, appends the two given events (an `owner_lost` error and
    /// `stream_complete(error)`) exactly as ``publish`` would. Returns the first seq, or 0 when nothing
    /// was to be done (the owner is alive, or the topic already ended).
    ///
    /// `KEYS`: meta, stream, lease. `ARGV`: channel, maxlen, retention ms, '1' to SPUBLISH, then the tails.
    static let endIfOwnerLost = RedisScript(
        """
        local meta, stream, lease = KEYS[1], KEYS[2], KEYS[3]
        local channel, maxlen, retention, sharded = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
        if redis.call('HGET', meta, 'state') ~= 'streaming' then return 0 end
        if not redis.call('HGET', meta, 'owner') then return 0 end
        if redis.call('EXISTS', lease) == 1 then return 0 end
        local epoch = redis.call('HGET', meta, 'epoch') or ''
        local head = tonumber(redis.call('HGET', meta, 'head') or '0')
        local first = head + 1
        local out = {}
        for i = 5, #ARGV do
          head = head + 1
          local json = '{"seq":' .. head .. ',' .. ARGV[i]
          redis.call('XADD', stream, 'MAXLEN', '~', maxlen, head .. '-1', 'e', json)
          out[#out + 1] = json
        end
        redis.call('HSET', meta, 'head', head, 'state', 'ended')
        redis.call('HDEL', meta, 'owner')
        redis.call('PEXPIRE', meta, retention)
        redis.call('PEXPIRE', stream, retention)
        local message = 'epoch:' .. epoch .. '\\n' .. table.concat(out, '\\n')
        if sharded then
          redis.call('SPUBLISH', channel, message)
        else
          redis.call('PUBLISH', channel, message)
        end
        return first
        """)

    /// Takes a topic's generation lease unless the topic ended or another node holds it.
    /// `KEYS`: meta, lease. `ARGV`: node id, ttl ms. Returns 1 when taken.
    static let acquireLease = RedisScript(
        """
        if redis.call('HGET', KEYS[1], 'state') == 'ended' then return 0 end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
        return 0
        """)

    /// Renews a lease this node holds. `KEYS`: lease, cancel flag. `ARGV`: node id, ttl ms.
    /// Returns 1 (renewed), 2 (renewed, and a cancel was requested), 0 (lost).
    static let renewLease = RedisScript(
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
        return 1
        """)

    /// Gives a lease back if this node holds it. `KEYS`: lease, cancel flag. `ARGV`: node id.
    static let releaseLease = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          redis.call('DEL', KEYS[2])
          return 1
        end
        return 0
        """)
}
