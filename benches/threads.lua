-- Shared by the wrk scripts (loaded with dofile, relative to the repository root, where
-- benches/load.sh runs wrk). Each wrk thread runs its own copy of a script, and LuaJIT's
-- math.random is not seeded per thread: ids drawn with it were the same in both threads, so
-- every user was sent twice at once. `setup` runs once per thread in the main state and hands
-- each thread its own `thread_id` (the run's start time, then the thread's number) and
-- `thread_no` (1, 2, ...).
local threads = 0
local run = os.time()
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", run .. "-" .. threads)
  thread:set("thread_no", threads)
end
