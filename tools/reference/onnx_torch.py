"""An ONNX graph of a torchvision-style CNN as a torch.nn.Module, one submodule per node.

Dev-only (never run by protoscope or CI). captum's DeepLift hooks nonlinear modules and refuses a module that
is called twice, which torchvision's ResNet blocks do with their ReLU; here every Relu node is its own
nn.ReLU, so captum applies its rules at every ReLU of the exported graph.
"""
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


class _Flatten(torch.nn.Module):
    def __init__(self, axis):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return torch.flatten(x, self.axis)


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x


class _GlobalAveragePool(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class _Gemm(torch.nn.Module):
    def __init__(self, weight, bias, trans_b):
        super().__init__()
        w = weight if trans_b else weight.T
        self.linear = torch.nn.Linear(w.shape[1], w.shape[0])
        self.linear.weight.data = torch.from_numpy(np.ascontiguousarray(w))
        self.linear.bias.data = torch.from_numpy(bias)

    def forward(self, x):
        return self.linear(x)


class OnnxModule(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        self.inits = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}
        self.input_name = [i.name for i in model.graph.input if i.name not in self.inits][0]
        self.output_name = model.graph.output[0].name
        self.steps = []  # (module key, input names, output name)
        self.by_output = {}
        self.nodes = torch.nn.ModuleDict()
        for i, node in enumerate(model.graph.node):
            # The legacy exporter shares equal folded-BN biases through Identity nodes of an initializer.
            if node.op_type == "Identity" and node.input[0] in self.inits:
                self.inits[node.output[0]] = self.inits[node.input[0]]
                continue
            key = f"n{i}"
            module, inputs = self._module(node)
            self.nodes[key] = module
            self.steps.append((key, inputs, node.output[0]))
            self.by_output[node.output[0]] = module

    def _module(self, node):
        a = _attrs(node)
        op = node.op_type
        if op == "Conv":
            w = self.inits[node.input[1]]
            pads = a.get("pads", [0, 0, 0, 0])
            assert pads[0] == pads[2] and pads[1] == pads[3], "asymmetric padding"
            conv = torch.nn.Conv2d(w.shape[1] * a.get("group", 1), w.shape[0], w.shape[2:],
                                   stride=a.get("strides", [1, 1]), padding=pads[:2],
                                   dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1),
                                   bias=len(node.input) > 2)
            conv.weight.data = torch.from_numpy(w)
            if len(node.input) > 2:
                conv.bias.data = torch.from_numpy(self.inits[node.input[2]])
            return conv, [node.input[0]]
        if op == "BatchNormalization":
            scale, bias, mean, var = (self.inits[n] for n in node.input[1:5])
            bn = torch.nn.BatchNorm2d(len(scale), eps=a.get("epsilon", 1e-5))
            bn.weight.data, bn.bias.data = torch.from_numpy(scale), torch.from_numpy(bias)
            bn.running_mean.data, bn.running_var.data = torch.from_numpy(mean), torch.from_numpy(var)
            return bn.eval(), [node.input[0]]
        if op == "Relu":
            return torch.nn.ReLU(), [node.input[0]]
        if op == "MaxPool":
            pads = a.get("pads", [0, 0, 0, 0])
            return torch.nn.MaxPool2d(a["kernel_shape"], a.get("strides", [1, 1]), pads[:2]), [node.input[0]]
        if op == "Add":
            return _Add(), list(node.input)
        if op == "GlobalAveragePool":
            return _GlobalAveragePool(), [node.input[0]]
        if op == "Flatten":
            return _Flatten(a.get("axis", 1)), [node.input[0]]
        if op == "Identity":
            return _Identity(), [node.input[0]]
        if op == "Gemm":
            assert a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0 and not a.get("transA", 0)
            return _Gemm(self.inits[node.input[1]], self.inits[node.input[2]], a.get("transB", 0)), [node.input[0]]
        raise NotImplementedError(f"ONNX op {op} ({node.name})")

    def module_producing(self, tensor):
        return self.by_output[tensor]

    def forward(self, x):
        values = {self.input_name: x}
        for key, inputs, output in self.steps:
            args = [values[n] if n in values else torch.from_numpy(self.inits[n]) for n in inputs]
            values[output] = self.nodes[key](*args)
        return values[self.output_name]
