-- SPDX-License-Identifier: MIT
-- wrk script for bench/microblog.sh: wrk -s mb.lua URL -- MODE [FILE [ONCE]]
--
-- MODE   request
-- home   GET /api/v1/timelines/home?limit=20   Authorization: Bearer <token>
-- html   GET /                                 Cookie: tandem_session=<token>
-- public GET /api/v1/timelines/public?limit=20 Authorization: Bearer <token>
-- post   POST /api/v1/statuses (form body)     Authorization: Bearer <token>
-- static GET the URL's path as it is (the nginx anchor; no credentials)
--
-- FILE has one credential a line. wrk thread k of n takes every n-th line and
-- sends them in turn, so that many accounts' timelines are read, not one.
-- ONCE=1: each thread sends each of its lines once and then stops (warming the
-- home timelines of every account in the file); run it with a long -d.
-- Every answer other than 200 is counted; done() prints "non-200: N" and the
-- first such status, which the script reads (wrk's own count lumps 3xx with 2xx).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    mode = args[1] or "static"
    once = args[3] == "1"
    creds = {}
    bad, first_bad, got, seq = 0, 0, 0, 0
    local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
    if args[2] and args[2] ~= "" then
        local i = 0
        for line in io.lines(args[2]) do
            if line ~= "" and i % nthreads == tid - 1 then
                creds[#creds + 1] = line
            end
            i = i + 1
        end
    end
    if mode ~= "static" and #creds == 0 then
        error("mb.lua: no credentials for thread " .. tid .. " in " .. tostring(args[2]))
    end
    paths = {
        home = "/api/v1/timelines/home?limit=20",
        public = "/api/v1/timelines/public?limit=20",
        html = "/",
        post = "/api/v1/statuses",
    }
end

local words = { "coffee", "train", "release", "garden", "music", "rain", "weekend", "code" }

function request()
    seq = seq + 1
    if mode == "static" then
        return wrk.format("GET", wrk.path)
    end
    local c = creds[(seq - 1) % #creds + 1]
    if mode == "html" then
        return wrk.format("GET", "/", { ["Cookie"] = "tandem_session=" .. c })
    end
    local h = { ["Authorization"] = "Bearer " .. c }
    if mode == "post" then
        h["Content-Type"] = "application/x-www-form-urlencoded"
        local body = string.format("status=bench+post+%d+from+thread+%d+about+%s+%%23bench%d",
            seq, tid, words[seq % #words + 1], seq % 50)
        return wrk.format("POST", paths.post, h, body)
    end
    return wrk.format("GET", paths[mode], h)
end

function response(status, headers, body)
    got = got + 1
    if status ~= 200 then
        bad = bad + 1
        if first_bad == 0 then first_bad = status end
    end
    if once and got >= #creds and not finished then
        -- wrk's main thread sleeps for -d whatever the threads do: leave a mark
        -- for the script, which then interrupts wrk.
        finished = true
        local dir = os.getenv("BENCH_DONE_DIR")
        local f = dir and io.open(dir .. "/" .. tid, "w")
        if f then f:close() end
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local total_bad, first = 0, 0
    for _, t in ipairs(threads) do
        total_bad = total_bad + t:get("bad")
        if first == 0 then first = t:get("first_bad") end
    end
    io.write(string.format("non-200: %d\nfirst-non-200: %d\n", total_bad, first))
end
