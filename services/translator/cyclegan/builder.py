"""The CycleGAN method's builder: the trained generator A -> B, loaded once per worker process."""

from __future__ import annotations

from services.common.core.model_cache import MODELS
from services.common.methods.cyclegan import CycleGANParams
from services.translator.translators import BuildContext, ImageTranslator, device_for


def build(params: CycleGANParams, context: BuildContext) -> ImageTranslator:
    from services.translator.cyclegan.checkpoint import load_generator_state
    from services.translator.cyclegan.inference import Translator
    from services.translator.cyclegan.networks import GeneratorConfig

    model = context.model
    assert model is not None, "the spec requires a model"
    device = device_for(context.settings)

    def load() -> Translator:
        generator = load_generator_state(
            context.store.get_bytes(model["checkpoint_key"]), GeneratorConfig.from_dict(model["config"])
        )
        return Translator(generator, device, backend=params.backend, batch_size=params.batch_size)

    key = f"cyclegan:{model['checkpoint_key']}:{device}:{params.backend}:{params.batch_size}"
    translator = MODELS.get(key, load)
    return ImageTranslator(lambda images, _depths: translator.translate(images), batch_size=params.batch_size)
