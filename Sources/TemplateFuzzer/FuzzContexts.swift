import ChatTemplate
import Foundation

/// Realistic `apply_chat_template` contexts the fuzz input chooses from (byte 0).
enum FuzzContexts {
    /// A fixed clock so that `strftime_now` is deterministic.
    static let fixedDate = Date(timeIntervalSince1970: 1_721_999_109)

    static func chat(
        _ messages: [TemplateValue], tools: TemplateValue = .none,
        addGenerationPrompt: Bool = true
    ) -> [String: TemplateValue] {
        [
            "messages": .array(messages),
            "tools": tools,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": "<s>",
            "eos_token": "</s>"
        ]
    }

    static let weatherTool: TemplateValue = [
        "type": "function",
        "function": [
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": [
                "type": "object",
                "properties": [
                    "city": ["type": "string", "description": "City name"],
                    "unit": ["type": "string", "enum": ["c", "f"]],
                    "days": ["type": "integer", "minimum": 1, "maximum": 7]
                ],
                "required": ["city"]
            ]
        ]
    ]

    static let all: [[String: TemplateValue]] = [
        chat([["role": "user", "content": "Hello!"]]),
        chat(
            [
                ["role": "system", "content": "You are terse."], ["role": "user", "content": "Hi"],
                ["role": "assistant", "content": "Hello."], ["role": "user", "content": "Weather?"]
            ],
            addGenerationPrompt: false),
        chat(
            [
                ["role": "user", "content": "Weather in Paris?"],
                [
                    "role": "assistant", "content": "",
                    "tool_calls": [
                        [
                            "id": "call_1", "type": "function",
                            "function": ["name": "get_weather", "arguments": ["city": "Paris", "days": 2]]
                        ]
                    ]
                ],
                ["role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21.5}"]
            ],
            tools: [weatherTool]),
        chat([
            ["role": "user", "content": [["type": "text", "text": "Describe"], ["type": "image"]]],
            ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nA cat.", "reasoning_content": "hmm"]
        ]),
        chat([]),
        [
            "messages": [["role": "user", "content": "x"]],
            "n": 3, "f": 2.5, "s": "héllo\n wörld\t", "b": true, "nothing": .none,
            "big": .int(Int.max), "small": .int(Int.min), "nan": .double(.nan), "inf": .double(.infinity),
            "list": [1, "two", 3.0, [4], ["k": "v"], .none],
            "dict": ["b": 1, "a": [2, 3], "c": ["d": "e"]]
        ]
    ]
}
