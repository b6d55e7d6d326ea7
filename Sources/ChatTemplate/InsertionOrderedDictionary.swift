/// A string-keyed dictionary that remembers insertion order (Python `dict` semantics): the
/// template values' dictionaries and the interpreter's runtime dictionaries.
public struct InsertionOrderedDictionary<Value> {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    /// Creates an empty dictionary.
    public init() {}

    /// Number of entries.
    public var count: Int { keys.count }

    /// Reads or writes a value; writing `nil` removes the key. Updating keeps the original position.
    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Entries in insertion order.
    public var entries: [(key: String, value: Value)] {
        keys.compactMap { key in storage[key].map { (key, $0) } }
    }
}

extension InsertionOrderedDictionary: Sendable where Value: Sendable {}

extension InsertionOrderedDictionary: Equatable where Value: Equatable {
    /// Python dict equality: same keys and values, order ignored.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.storage == rhs.storage }
}
