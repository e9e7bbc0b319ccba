"""Running a one-image-in, one-image-out session with its tensors on the provider's device (IO binding).

``session.run`` with numpy arrays copies the input to the GPU and the output back on every call and allocates the
output anew. Binding device buffers once removes the allocations, lets a caller time the GPU work alone, and is
what CUDA graphs require: a captured graph replays on the same addresses, so the input is updated in place and the
output buffer never moves (the pattern of onnxruntime's own IO-binding and CUDA-graph samples).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


class BoundRunner:
    """IO binding for a session's inputs and outputs, reallocated only when an input's shape changes.

    Outputs are bound to buffers of their own, reused from run to run (CUDA graphs need that), when their shapes
    are known: ``output_like_input`` (one output shaped like the first input: the transformer nets) or
    ``output_shapes`` (name → (shape, dtype)). Otherwise onnxruntime allocates them on the device at each run.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        device: str = "cuda",
        device_id: int = 0,
        output_like_input: bool = False,
        output_shapes: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None,
    ) -> None:
        self.session = session
        self.device, self.device_id = device, device_id
        self.output_like_input = output_like_input
        self.output_shapes = output_shapes
        self.binding = session.io_binding()
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._inputs: dict[str, ort.OrtValue] = {}
        self._outputs: dict[str, ort.OrtValue] = {}
        self._outputs_bound = False

    def _bind_outputs(self, first: np.ndarray) -> None:
        self.binding.clear_binding_outputs()
        outputs = [output.name for output in self.session.get_outputs()]
        shapes = {outputs[0]: (first.shape, np.float32)} if self.output_like_input else self.output_shapes or {}
        for name in outputs:
            if name in shapes:
                shape, dtype = shapes[name]
                self._outputs[name] = ort.OrtValue.ortvalue_from_shape_and_type(
                    shape, dtype, self.device, self.device_id
                )
                self.binding.bind_ortvalue_output(name, self._outputs[name])
            else:
                self.binding.bind_output(name, self.device, self.device_id)
        self._outputs_bound = True

    def load(self, feeds: dict[str, np.ndarray]) -> None:
        """Copy the feeds into the device inputs (allocating them when a shape is new)."""
        reshaped = False
        for name, value in feeds.items():
            value = np.ascontiguousarray(value)
            if self.shapes.get(name) != value.shape:
                # on the CPU an OrtValue wraps the array itself; a copy keeps later in-place updates off the caller's
                own = value.copy() if self.device == "cpu" else value
                self._inputs[name] = ort.OrtValue.ortvalue_from_numpy(own, self.device, self.device_id)
                self.binding.bind_ortvalue_input(name, self._inputs[name])
                self.shapes[name] = value.shape
                reshaped = True
            else:
                self._inputs[name].update_inplace(value)
        if reshaped or not self._outputs_bound:
            self._bind_outputs(next(iter(feeds.values())))

    def run_on_device(self) -> None:
        """One run on what is already on the device; the results stay there."""
        self.binding.synchronize_inputs()
        self.session.run_with_iobinding(self.binding)
        self.binding.synchronize_outputs()

    def results(self) -> list[np.ndarray]:
        return self.binding.copy_outputs_to_cpu()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Host arrays in, host arrays out, through the bound device buffers."""
        self.load(feeds)
        self.run_on_device()
        return self.results()
