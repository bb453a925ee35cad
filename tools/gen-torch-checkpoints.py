#!/usr/bin/env python3
"""Writes tests/data/pytorch/: pytorch_model.bin files as torch.save itself
writes them, for the reader in host/core/torch_checkpoint.c.

  tiny-f16-zip.bin     AlbertForPreTraining.save_pretrained(safe_serialization=False)
                       of ../shared/models/tiny-f16 in float16: the zip format, the
                       "albert." prefix, the pooler, the masked-LM decoder weight tied
                       to the embeddings (the sentence-order head left random)
  tiny-f16-legacy.bin  the AlbertModel of the same weights (no prefix), its
                       state_dict(keep_vars=True) (nn.Parameters, an OrderedDict
                       with _metadata) in the legacy format, every 2-D weight but
                       the word embeddings a transposed view, as a model converted
                       from TensorFlow by transformers has them, the embeddings in
                       float16 and every other tensor in float32 (the float16
                       values, exactly): the same model as tiny-f16
  values-zip.bin, values-legacy.bin, values-p4.bin
                       small tensors of every float dtype and int64, a scalar, an
                       empty one, a view at a storage offset, two sharing a storage;
                       element i of each holds i * 0.5 - 1 (values-p4: pickle
                       protocol 4)
  values-nocrc.bin     values-zip.bin with every CRC 0, as torch 2.5's
                       set_crc32_options(False) writes them (torch.load checks none)
  values-little.bin, values-big.bin
                       values-zip.bin with the ARCHIVE/byteorder entry torch 2.1 and
                       later add, "little" and "big" (refused)
  strided.bin          tensors that are not contiguous, each KEY beside
                       KEY.expect, its .contiguous(): a transposed weight (as
                       transformers' TensorFlow conversion leaves them), an
                       expanded (stride 0) and a permuted one at a storage offset
  list.bin, nested.bin, module.bin, complex.bin
                       what the reader refuses: a list, a training checkpoint
                       {"epoch", "model"}, a whole nn.Module, a complex tensor

Needs torch and transformers (tools/gen-st-golden.py's venv: Debian's
python3-torch 1.13 with transformers<4.45 from PyPI):
  python tools/gen-torch-checkpoints.py ../shared tests/data/pytorch
"""
import os
import sys
import tempfile
import zipfile

import torch
from transformers import AlbertForPreTraining, AlbertModel


def values(dtype, *shape):
    n = 1
    for d in shape:
        n *= d
    return (torch.arange(n, dtype=torch.float64) * 0.5 - 1).reshape(shape).to(dtype)


def small_dict():
    base = values(torch.float32, 3, 2)
    shared = values(torch.float32, 4)
    return {
        "f32": values(torch.float32, 2, 3),
        "f16": values(torch.float16, 5),
        "bf16": values(torch.bfloat16, 2, 2),
        "f64": values(torch.float64, 3),
        "i64": torch.arange(4, dtype=torch.int64) - 1,
        "scalar": torch.tensor(-1.0),
        "empty": torch.zeros(0, 4),
        "view": base[1],          # storage offset 2, shape [2]
        "shared.a": shared,
        "shared.b": shared.view(2, 2),
    }


def strided_dict():
    t = values(torch.float32, 2, 3).t()
    e = values(torch.float32, 3).expand(2, 3)
    p = values(torch.float32, 5, 2, 3, 4)[1].permute(2, 0, 1)
    return {"t": t, "t.expect": t.contiguous(), "e": e, "e.expect": e.contiguous(),
            "p": p, "p.expect": p.contiguous()}


def zero_crcs(data):
    """DATA, a zip archive, with the CRC-32 of every local and central
    directory header set to 0."""
    out = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        i = out.find(sig)
        while i >= 0:
            out[i + at:i + at + 4] = b"\0\0\0\0"
            i = out.find(sig, i + 4)
    return bytes(out)


def with_byteorder(src, dst, order):
    """SRC, a torch zip checkpoint, copied to DST with ARCHIVE/byteorder
    holding ORDER, stored as torch stores every entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr(prefix + "/byteorder", order)


def save_tiny(shared, out):
    src = os.path.join(shared, "models", "tiny-f16")
    mlm = AlbertForPreTraining.from_pretrained(src, torch_dtype=torch.float16)
    with tempfile.TemporaryDirectory() as tmp:
        mlm.save_pretrained(tmp, safe_serialization=False)
        os.replace(os.path.join(tmp, "pytorch_model.bin"), os.path.join(out, "tiny-f16-zip.bin"))
    model = AlbertModel.from_pretrained(src, torch_dtype=torch.float16)
    strided = 0
    for name, p in model.named_parameters():
        if "word_embeddings" not in name:
            p.data = p.data.float()
        if p.dim() == 2 and "word_embeddings" not in name:
            # As load_tf_weights_in_albert leaves them: np.transpose views.
            p.data = p.data.t().contiguous().t()
            strided += 1
    assert strided >= 8 and not model.encoder.embedding_hidden_mapping_in.weight.is_contiguous()
    torch.save(model.state_dict(keep_vars=True), os.path.join(out, "tiny-f16-legacy.bin"),
               _use_new_zipfile_serialization=False)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen-torch-checkpoints.py SHARED_DIR OUT_DIR")
    shared, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)  # the sentence-order head, which nothing reads
    save_tiny(shared, out)
    path = lambda name: os.path.join(out, name)
    torch.save(small_dict(), path("values-zip.bin"))
    torch.save(small_dict(), path("values-legacy.bin"), _use_new_zipfile_serialization=False)
    torch.save(small_dict(), path("values-p4.bin"), pickle_protocol=4)
    with open(path("values-zip.bin"), "rb") as f:
        nocrc = zero_crcs(f.read())
    with open(path("values-nocrc.bin"), "wb") as f:
        f.write(nocrc)
    with_byteorder(path("values-zip.bin"), path("values-little.bin"), "little")
    with_byteorder(path("values-zip.bin"), path("values-big.bin"), "big")
    torch.save(strided_dict(), path("strided.bin"))
    torch.save({"c": torch.zeros(2, dtype=torch.complex64)}, path("complex.bin"))
    torch.save([values(torch.float32, 2)], path("list.bin"))
    torch.save({"epoch": 1, "model": {"w": values(torch.float32, 2)}}, path("nested.bin"))
    torch.save(torch.nn.Linear(2, 2), path("module.bin"))
    print("torch %s wrote %s" % (torch.__version__, ", ".join(sorted(os.listdir(out)))))


if __name__ == "__main__":
    main()
