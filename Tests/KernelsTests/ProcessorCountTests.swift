import Foundation
import Testing

@testable import Kernels

/// The cgroup CPU limit, parsed as the kernel writes it (v2 `cpu.max`, v1 quota and period).
@Suite struct ProcessorCountTests {
    @Test func cgroupV2Limits() {
        #expect(ProcessorCount.cpuLimit(cgroupV2: "200000 100000\n") == 2)
        #expect(ProcessorCount.cpuLimit(cgroupV2: "150000 100000") == 2)
        #expect(ProcessorCount.cpuLimit(cgroupV2: "50000 100000") == 1)
        #expect(ProcessorCount.cpuLimit(cgroupV2: "400000 100000") == 4)
        #expect(ProcessorCount.cpuLimit(cgroupV2: "max 100000\n") == nil)
        for malformed in ["", "100000", "a b", "-5 100000", "100000 0", "1 2 3", "99999999999999999999999 1"] {
            #expect(ProcessorCount.cpuLimit(cgroupV2: malformed) == nil, "\(malformed)")
        }
        #expect(ProcessorCount.cpuLimit(cgroupV2: "\(Int.max) 10") == Int.max / 10 + 1)  // rounded up without overflow
    }

    @Test func cgroupV1Limits() {
        #expect(ProcessorCount.cpuLimit(quota: "-1\n", period: "100000\n") == nil)
        #expect(ProcessorCount.cpuLimit(quota: "300000\n", period: "100000\n") == 3)
        #expect(ProcessorCount.cpuLimit(quota: "250000", period: "100000") == 3)
    }

    @Test func cpuLists() {
        #expect(ProcessorCount.cpuCount(list: "0-1\n") == 2)
        #expect(ProcessorCount.cpuCount(list: "\t0-3,8,10-11") == 7)
        #expect(ProcessorCount.cpuCount(list: "5") == 1)
        for malformed in ["", "a", "3-1", "0-", "-1", "0,,1", "1-2-3", "0-99999999999999999999", "0-\(Int.max)"] {
            #expect(ProcessorCount.cpuCount(list: malformed) == nil, "\(malformed)")
        }
    }

    @Test func currentIsWithinTheOnlineProcessors() {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect((1...max(online, 1)).contains(WorkerPool.processorCount))
    }
}
