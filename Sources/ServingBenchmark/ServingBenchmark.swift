// A streaming OpenAI client load generator.
