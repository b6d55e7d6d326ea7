import Foundation

/// How many processors this process may keep busy: the online ones, within its CPU affinity
/// (`taskset`, a cpuset) and its cgroup's CPU quota rounded up (a container's CPU limit). On a
/// Kubernetes node with 64 cores, a pod limited to 4 CPUs gets 4: 64 spinning threads on a quota of
/// 4 would be throttled most of the time.
enum ProcessorCount {
    /// The count for this process (at least 1).
    static var current: Int {
        var count = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let affinity = affinityCount() { count = min(count, affinity) }
        if let quota = cgroupQuota() { count = min(count, quota) }
        return max(count, 1)
    }

    /// CPUs in the affinity mask, from `/proc/self/status` (`sched_getaffinity` is not visible to
    /// Swift); nil when it cannot be read.
    private static func affinityCount() -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/status") else { return nil }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.flatMap { cpuCount(list: String($0.dropFirst("Cpus_allowed_list:".count))) }
    }

    /// CPUs in a kernel CPU list (`"0-3,8,10-11"` is 7); nil for anything malformed.
    static func cpuCount(list: String) -> Int? {
        var count = 0
        for item in list.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil,
                low >= 0, high >= low, high - low < 1 << 20
            else { return nil }
            count += high - low + 1
            guard count < 1 << 20 else { return nil }
        }
        return count > 0 ? count : nil
    }

    /// The cgroup v2 `cpu.max` limit, else cgroup v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us`
    /// (nil: no limit, or none readable).
    private static func cgroupQuota() -> Int? {
        func read(_ path: String) -> String? {
            guard let data = FileManager.default.contents(atPath: path), data.count < 256 else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
        if let text = read("/sys/fs/cgroup/cpu.max") { return cpuLimit(cgroupV2: text) }
        for directory in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
            if let quota = read(directory + "/cpu.cfs_quota_us"), let period = read(directory + "/cpu.cfs_period_us") {
                return cpuLimit(quota: quota, period: period)
            }
        }
        return nil
    }

    /// CPUs a cgroup v2 `cpu.max` allows, rounded up: `"200000 100000"` is 2, `"150000 100000"` 2,
    /// `"max 100000"` nil (no limit); nil for anything malformed.
    static func cpuLimit(cgroupV2 text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2 else { return nil }
        return cpuLimit(quota: String(fields[0]), period: String(fields[1]))
    }

    /// CPUs a quota per period allows, rounded up (nil for no limit: `max`, -1, or malformed).
    static func cpuLimit(quota: String, period: String) -> Int? {
        guard let quota = Int(quota.trimmingCharacters(in: .whitespacesAndNewlines)),
            let period = Int(period.trimmingCharacters(in: .whitespacesAndNewlines)),
            quota > 0, period > 0
        else { return nil }
        return quota / period + (quota % period == 0 ? 0 : 1)
    }
}
