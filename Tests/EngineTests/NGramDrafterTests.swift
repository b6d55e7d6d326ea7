import Testing

@testable import Engine

@Suite struct NGramDrafterTests {
    @Test func proposesWhatFollowedTheLatestEarlierOccurrence() {
        // "1 2" occurs at 0 and at 4; the suffix "1 2" (positions 8-9) matches the latest: 4-5.
        let drafter = NGramDrafter(prompt: [1, 2, 3, 4, 1, 2, 5, 6, 1, 2], sizes: 2...2)
        #expect(drafter.propose(limit: 3) == [5, 6, 1])
        #expect(drafter.propose(limit: 1) == [5])
        #expect(drafter.propose(limit: 0) == [])
    }

    @Test func triesTheLongestSuffixFirst() {
        // The bigram "7 8" last occurred followed by 0, but the trigram "6 7 8" only followed by 9.
        let drafter = NGramDrafter(prompt: [6, 7, 8, 9, 9, 7, 8, 0, 6, 7, 8], sizes: 2...3)
        #expect(drafter.propose(limit: 2) == [9, 9])
        let bigrams = NGramDrafter(prompt: [6, 7, 8, 9, 9, 7, 8, 0, 6, 7, 8], sizes: 2...2)
        #expect(bigrams.propose(limit: 2) == [0, 6])
    }

    @Test func neverMatchesTheSuffixItself() {
        #expect(NGramDrafter(prompt: [1, 2, 3], sizes: 1...3).propose(limit: 4) == [])
        #expect(NGramDrafter(prompt: [], sizes: 1...3).propose(limit: 4) == [])
        // A run of one token: the latest earlier "5 5" ends one before the last, so the draft is
        // what followed it, the last token.
        #expect(NGramDrafter(prompt: [5, 5, 5], sizes: 2...2).propose(limit: 4) == [5])
    }

    @Test func acceptedTokensExtendTheIndexAndRollBackForgetsThem() {
        var drafter = NGramDrafter(prompt: [1, 2, 3, 4], sizes: 2...2)
        #expect(drafter.propose(limit: 2) == [])
        drafter.append(1)
        drafter.append(2)
        #expect(drafter.propose(limit: 2) == [3, 4])
        #expect(drafter.outputCount == 2)
        drafter.rollBack(toOutputCount: 1)
        #expect(drafter.outputCount == 1)
        #expect(drafter.propose(limit: 2) == [])  // "4 1" never occurred before
        drafter.append(2)
        #expect(drafter.propose(limit: 2) == [3, 4])
        drafter.rollBack(toOutputCount: 5)  // beyond the output: no change
        #expect(drafter.outputCount == 2)
    }

    @Test func draftingStateDraftsFromPromptAndOutputAndRollsBackBoth() {
        var state = DraftingState(
            base: SamplingState(parameters: .greedy, promptTokens: [1, 2, 3]), promptTokens: [1, 2, 3], sizes: 1...2)
        state.accept(1)
        #expect(state.draft(limit: 3) == [2, 3, 1])
        #expect(state.acceptedCount == 1 && state.lastToken == 1)
        state.accept(9)
        #expect(state.draft(limit: 3) == [])
        state.rollBack(toAcceptedCount: 1)
        #expect(state.lastToken == 1 && state.draft(limit: 2) == [2, 3])
    }
}

@Suite struct SpeculationPolicyTests {
    @Test func draftsWhereTheyPayAndNotInLargeBatches() {
        var policy = Speculation()
        policy.tokenCost = 0.3
        // One sequence: the k maximizing E(k) / (1 + 0.1 + 0.3 k).
        #expect(policy.draftLength(acceptanceRate: 0.9, decodingSequences: 1) == 5)
        #expect(policy.draftLength(acceptanceRate: 0.5, decodingSequences: 1) == 1)
        #expect(policy.draftLength(acceptanceRate: 0.2, decodingSequences: 1) == 0)
        // 64 decodes: the step is bound by computing; drafts cost more than they yield.
        #expect(policy.draftLength(acceptanceRate: 0.9, decodingSequences: 64) == 0)
        #expect(policy.draftLength(acceptanceRate: 0.9, decodingSequences: 2) > 0)
        policy.tokenCost = 0
        policy.draftCost = 0
        #expect(policy.draftLength(acceptanceRate: 0.1, decodingSequences: 64) == policy.maxDraftTokens)
    }

    @Test func acceptanceEstimateFollowsRecentSteps() {
        var estimate = AcceptanceEstimate()
        #expect(estimate.rate == AcceptanceEstimate.prior)
        for _ in 0..<40 { estimate.record(drafted: 4, accepted: 4) }
        #expect(estimate.rate > 0.9)
        for _ in 0..<80 { estimate.record(drafted: 4, accepted: 0) }
        #expect(estimate.rate < 0.2)
        for _ in 0..<100 { estimate.record(drafted: 0, accepted: 0) }
        #expect(abs(estimate.rate - AcceptanceEstimate.prior) < 0.05, "without evidence it returns to the prior: \(estimate.rate)")
    }
}
