import Randomness
import Testing

@testable import Engine

/// Feeds `deltas` one by one; returns what each call emitted, and the flushed tail.
private func run(_ stops: [String], _ deltas: [String]) -> (emitted: [String], flushed: String, matched: String?) {
    var matcher = StopStringMatcher(stopStrings: stops)
    let emitted = deltas.map { matcher.append($0) }
    let flushed = matcher.flush()
    return (emitted, flushed, matcher.matched)
}

/// Reference: the text before the earliest stop string in the whole stream, or all of it
/// (a plain search over characters, independent of the matcher's).
private func expectedOutput(_ stops: [String], _ text: String) -> String {
    let characters = Array(text)
    for start in characters.indices {
        for stop in stops where !stop.isEmpty {
            let pattern = Array(stop)
            if start + pattern.count <= characters.count, Array(characters[start..<start + pattern.count]) == pattern {
                return String(characters[..<start])
            }
        }
    }
    return text
}

@Suite struct StopStringMatcherTests {
    @Test func stopStringSplitAcrossManyDeltasIsCaught() {
        let result = run(["STOP"], ["Hello ", "S", "T", "O", "P", " never"])
        #expect(result.emitted == ["Hello ", "", "", "", "", ""])
        #expect(result.matched == "STOP")
        #expect(result.flushed == "")
    }

    @Test func textBeforeTheMatchInTheSameDeltaIsEmitted() {
        let result = run(["<end>"], ["abc<e", "nd>tail", "more"])
        #expect(result.emitted == ["abc", "", ""])
        #expect(result.matched == "<end>")
    }

    @Test func partialMatchIsHeldBackThenReleasedWhenItDiverges() {
        var matcher = StopStringMatcher(stopStrings: ["###"])
        #expect(matcher.append("a#") == "a")
        #expect(matcher.append("#") == "")
        #expect(matcher.append("b") == "##b")
        #expect(matcher.append("#") == "")
        #expect(matcher.append("#") == "")
        #expect(matcher.append("#") == "")
        #expect(matcher.matched == "###")
        #expect(matcher.flush() == "")
    }

    @Test func overlappingPrefixesKeepTheLongestPossibleStart() {
        // "aab" inside "aaab": the first "a" is safe only once the third arrives.
        var matcher = StopStringMatcher(stopStrings: ["aab"])
        #expect(matcher.append("a") == "")
        #expect(matcher.append("a") == "")
        #expect(matcher.append("a") == "a")
        #expect(matcher.append("b") == "")
        #expect(matcher.matched == "aab")
    }

    @Test func earliestOfSeveralStopStringsWins() {
        let whole = run(["world", "lo w"], ["hello world"])
        #expect(whole.emitted == ["hel"])
        #expect(whole.matched == "lo w")
        // Listed order does not matter.
        let reversed = run(["lo w", "world"], ["hello world"])
        #expect(reversed.emitted == ["hel"])
        #expect(reversed.matched == "lo w")
        // Split across deltas; the other stop string completes later in the stream.
        let split = run(["xyz", "cd"], ["ab", "c", "dxyz"])
        #expect(split.emitted == ["ab", "", ""])
        #expect(split.matched == "cd")
    }

    @Test func flushReleasesHeldTextWhenNothingMatched() {
        var matcher = StopStringMatcher(stopStrings: ["</s>"])
        #expect(matcher.append("done</") == "done")
        #expect(matcher.flush() == "</")
        #expect(matcher.matched == nil)
        // Flushing twice does not repeat the text.
        #expect(matcher.flush() == "")
    }

    @Test func noStopStringsPassEverythingThrough() {
        let result = run([], ["a", "b"])
        #expect(result.emitted == ["a", "b"])
        #expect(result.flushed == "")
        // Empty stop strings are ignored.
        let empty = run([""], ["x", "y"])
        #expect(empty.emitted == ["x", "y"])
        #expect(empty.matched == nil)
    }

    @Test func emojiAndCJKStopStrings() {
        let cjk = run(["停止"], ["你好", "停", "止", "世界"])
        #expect(cjk.emitted == ["你好", "", "", ""])
        #expect(cjk.matched == "停止")

        let diverging = run(["停止"], ["你好", "停", "下来"])
        #expect(diverging.emitted == ["你好", "", "停下来"])
        #expect(diverging.matched == nil)

        let emoji = run(["🛑🛑"], ["go 🚀", "🛑", " 🛑", "🛑 after"])
        #expect(emoji.emitted == ["go 🚀", "", "🛑 ", ""])
        #expect(emoji.matched == "🛑🛑")

        let family = run(["👨‍👩‍👧"], ["hi ", "👨‍👩‍👧", "!"])
        #expect(family.emitted == ["hi ", "", ""])
        #expect(family.matched == "👨‍👩‍👧")

        // Held unicode text comes back whole from flush.
        var held = StopStringMatcher(stopStrings: ["日本語テキスト"])
        #expect(held.append("これは日本") == "これは")
        #expect(held.flush() == "日本")
    }

    /// Every way of splitting the text into deltas emits, in total, exactly the text before the
    /// earliest stop string (or all of it, after flush), and never anything twice. (The cases have
    /// no stop string that starts earlier but ends later than another, where chunking matters.)
    @Test(arguments: [
        (["<|end|>", "\n\n"], "The answer is 42.<|end|>ignored"),
        (["<|end|>", "\n\n"], "no stop <|en here\n at all <|end"),
        (["ab", "b"], "cab"),
        (["aaa"], "aaaaaa"),
        (["🙂x", "é"], "ça va 🙂🙂x fin"),
        (["终了", "了吗"], "好了吗终了"),
        (["abcd"], "xabcabcabcdz")
    ])
    func everySplitEmitsTheSameText(stops: [String], text: String) {
        let characters = Array(text)
        let expected = expectedOutput(stops, text)
        var rng = SplitMix64(seed: UInt64(text.utf8.count))
        for trial in 0..<200 {
            // trial 0: one character per delta; trial 1: the whole text at once; others random.
            var deltas: [String] = []
            var start = 0
            while start < characters.count {
                let length = trial == 0 ? 1 : trial == 1 ? characters.count : Int(rng.next() % 4) + 1
                let end = min(start + length, characters.count)
                deltas.append(String(characters[start..<end]))
                start = end
            }
            let result = run(stops, deltas)
            let total = result.emitted.joined() + result.flushed
            #expect(total == expected, "deltas \(deltas)")
            #expect((result.matched != nil) == (expected != text), "deltas \(deltas)")
        }
    }
}
