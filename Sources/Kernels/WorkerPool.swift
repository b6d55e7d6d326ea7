import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of worker threads created once and reused for every parallel kernel call.
///
/// `threadCount` includes the calling thread: `run` executes the body on the caller as thread 0 and on
/// `threadCount - 1` background workers; concurrent callers are serialized. Workers spin briefly after each job (so back-to-back kernel
/// calls do not pay a wake-up), then park on a condition variable. A call allocates nothing.
/// `run` must not be called re-entrantly from inside a body (that would deadlock).
///
/// `@unchecked Sendable`: its job slot and counters are published through its lock and atomics; callers
/// are serialized by `runLock`.
public final class WorkerPool: @unchecked Sendable {
    /// Number of threads that execute a job, including the caller.
    public let threadCount: Int

    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let shuttingDown = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Serializes concurrent `run` callers (the pool runs one job at a time).
    private let runLock: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var threads: [pthread_t] = []
    /// The job of the current generation; written by the caller before publishing the generation.
    private nonisolated(unsafe) var job: ((Int, Int) -> Void)?

    /// Spin iterations a worker waits for the next job before parking.
    private let spinIterations = 100_000

    /// Creates a pool with `threads` threads in total (the caller plus `threads - 1` workers).
    /// - Parameter threads: the number of threads; defaults to the number of online processors.
    public init(threads: Int = WorkerPool.processorCount) {
        let count = max(1, threads)
        threadCount = count
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        runLock = .allocate(capacity: 1)
        pthread_mutex_init(runLock, nil)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 1..<count {
            let context = Unmanaged.passRetained(WorkerStart(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(
                &thread, nil,
                { raw in
                    guard let raw else { return nil }
                    let start = Unmanaged<WorkerStart>.fromOpaque(raw).takeRetainedValue()
                    start.pool.workerLoop(index: start.index)
                    return nil
                }, context)
            precondition(status == 0, "pthread_create failed with \(status)")
            self.threads.append(thread)
        }
    }

    deinit {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        pthread_mutex_destroy(runLock)
        mutex.deallocate()
        condition.deallocate()
        runLock.deallocate()
    }

    /// The processors this process may keep busy: the online ones, within its CPU affinity and its
    /// cgroup's CPU quota (a container's CPU limit); see `ProcessorCount`.
    public static var processorCount: Int { ProcessorCount.current }

    /// Runs `body(threadIndex, threadCount)` once on every thread of the pool (the caller is thread 0)
    /// and returns when all have finished.
    public func run(_ body: (Int, Int) -> Void) {
        if threadCount == 1 {
            body(0, 1)
            return
        }
        pthread_mutex_lock(runLock)
        defer { pthread_mutex_unlock(runLock) }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            remaining.store(threadCount - 1, ordering: .relaxed)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                generation.add(1, ordering: .sequentiallyConsistent)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            } else {
                generation.add(1, ordering: .sequentiallyConsistent)
                // A worker may have decided to sleep between our check and the increment; it
                // re-checks the generation under the mutex, so a broadcast under the mutex suffices.
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(condition)
                    pthread_mutex_unlock(mutex)
                }
            }
            escapable(0, threadCount)
            var spins = 0
            while remaining.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins < 100_000 { WorkerPool.pause() } else { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits `0..<count` into one contiguous, nearly equal range per thread and runs `body` on each
    /// non-empty range in parallel.
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        if threadCount == 1 || count == 1 {
            body(0..<count)
            return
        }
        run { index, total in
            let range = WorkerPool.split(count, part: index, of: total)
            if !range.isEmpty { body(range) }
        }
    }

    /// Runs `body` once on every thread of the pool; each call pulls chunks of `grain` consecutive
    /// items of `0..<count` from `nextChunk` (nil once all are handed out), so a thread that runs
    /// faster, or is not held up by other work on its core, takes more of them. For products whose rows
    /// cost the same but whose threads may not run at the same speed; `parallelFor` splits evenly.
    public func runChunked(_ count: Int, grain: Int, _ body: (_ nextChunk: () -> Range<Int>?) -> Void) {
        let grain = max(1, grain)
        guard count > grain, threadCount > 1 else {
            var done = count <= 0
            body {
                defer { done = true }
                return done ? nil : 0..<count
            }
            return
        }
        let cursor = Atomic<Int>(0)
        run { _, _ in
            body {
                let start = cursor.wrappingAdd(grain, ordering: .relaxed).oldValue
                return start < count ? start..<min(start + grain, count) : nil
            }
        }
    }

    /// The `part`-th of `parts` contiguous, nearly equal pieces of `0..<count`.
    @inlinable
    public static func split(_ count: Int, part: Int, of parts: Int) -> Range<Int> {
        let base = count / parts
        let extra = count % parts
        let start = part * base + min(part, extra)
        return start..<(start + base + (part < extra ? 1 : 0))
    }

    /// A spin-wait hint. (`_mm_pause` is a compiler builtin Swift cannot link against, so this is a
    /// plain relaxed spin.)
    @inline(__always)
    static func pause() {}

    private func workerLoop(index: Int) {
        // Generation 0 is the state at creation; the first job may be published before this thread
        // starts, so the thread must not read its starting point from `generation`.
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < spinIterations {
                WorkerPool.pause()
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                current = generation.load(ordering: .sequentiallyConsistent)
                while current == seen {
                    pthread_cond_wait(condition, mutex)
                    current = generation.load(ordering: .sequentiallyConsistent)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = current
            if shuttingDown.load(ordering: .sequentiallyConsistent) { return }
            if let body = job { body(index, threadCount) }
            remaining.subtract(1, ordering: .releasing)
        }
    }
}

/// What a new worker thread needs to start its loop.
private final class WorkerStart {
    /// Unowned so that the workers do not keep the pool alive; `deinit` joins them before the pool dies.
    unowned(unsafe) let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
