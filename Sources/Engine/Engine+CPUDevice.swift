import Model
import Tokenizer

extension Engine {
    /// An engine over a `CPUDevice` running `model`, with a KV cache as `cache` describes.
    public convenience init(
        model: LlamaModel, tokenizer: Tokenizer, configuration: Configuration = Configuration(),
        cache: CPUDevice.CacheConfiguration = CPUDevice.CacheConfiguration()
    ) {
        let c = model.configuration
        self.init(
            device: CPUDevice(model: model, cache: cache), tokenizer: tokenizer,
            limits: ModelLimits(contextLength: c.contextLength, vocabularySize: c.vocabularySize), configuration: configuration)
    }
}
