import Randomness

/// The benchmark's random source (xoshiro256**): everything random in a workload (prompt words,
/// arrival intervals) comes from it, so a given `--seed` reproduces the same workload on every run and
/// on every server.
public typealias SeededGenerator = Xoshiro256StarStar
