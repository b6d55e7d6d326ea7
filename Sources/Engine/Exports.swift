@_exported import Grammar
// The engine's requests carry `SamplingParameters`; its users need not import the module that defines them.
@_exported import Sampling
