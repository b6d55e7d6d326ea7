import Foundation
import Testing

@testable import ChatTemplate

/// Real model templates rendered by Python Jinja2 (transformers' environment); exact string equality.
@Test(arguments: [
    "smollm2", "chatml", "zephyr", "llama3", "llama3_1", "llama3_2", "qwen2_5", "qwen3_coder",
    "mistral_v2", "mistral_v3", "mistral_small3_1", "gemma2", "gemma3", "qwen3", "phi3", "mistral_v1"
])
func modelTemplateMatchesJinja2(_ name: String) throws {
    let templates = try Fixtures.load(name)
    #expect(templates.count == 1)
    for template in templates {
        #expect(!template.cases.isEmpty)
        for (index, testCase) in template.cases.enumerated() {
            let failure = Fixtures.check(template, testCase, index: index)
            #expect(failure == nil, "\(failure ?? "")")
        }
    }
}

/// Synthetic templates exercising each supported Jinja feature.
@Test func featureTemplatesMatchJinja2() throws {
    let templates = try Fixtures.load("features")
    #expect(templates.count > 40)
    for template in templates {
        for (index, testCase) in template.cases.enumerated() {
            let failure = Fixtures.check(template, testCase, index: index)
            #expect(failure == nil, "\(failure ?? "")")
        }
    }
}
