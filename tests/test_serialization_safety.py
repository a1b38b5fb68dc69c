"""``save``/``load`` against crashes and hostile files: durable writes, one file mode, clear errors for damaged
layouts and truncated files, and no ``.npz`` that unpacks without bound."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import sparktensor as st
from sparktensor import files, serialization


def record_disk_calls(monkeypatch):
    """A list that gets ``("fsync", path)`` and ``("replace", source, target)`` for each such call, in order."""
    calls = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        calls.append(("fsync", os.path.realpath(os.readlink(f"/proc/self/fd/{fd}"))))
        return fsync(fd)

    def recording_replace(source, target):
        calls.append(("replace", os.path.realpath(source), os.path.realpath(target)))
        return replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return calls


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files through /proc")
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_fsyncs_the_file_before_the_rename_and_the_directory_after_it(tmp_path, monkeypatch, suffix):
    calls = record_disk_calls(monkeypatch)
    path = str(tmp_path / f"weights{suffix}")
    st.save({"w": np.arange(5.0)}, path)
    renames = [c for c in calls if c[0] == "replace" and c[2] == os.path.realpath(path)]
    assert len(renames) == 1, calls
    at = calls.index(renames[0])
    assert ("fsync", renames[0][1]) in calls[:at], calls
    assert ("fsync", os.path.realpath(tmp_path)) in calls[at + 1:], calls


def umasked(mode=0o666):
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_saved_files_get_the_usual_mode_whatever_the_format(tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    st.save({"w": np.ones(3)}, path)
    assert os.stat(path).st_mode & 0o777 == umasked()
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left


def test_write_atomically_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "history.json"
    target.symlink_to(victim)
    files.write_atomically(str(target), "[]")
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and target.read_text() == "[]"
    assert os.stat(target).st_mode & 0o777 == umasked()


def test_a_layout_naming_a_missing_tensor_is_a_value_error_naming_it(tmp_path):
    from safetensors.numpy import save_file
    path = str(tmp_path / "damaged.safetensors")
    layout = {"dict": [["weight", {"tensor": "weight"}], ["bias", {"tensor": "bias"}]]}
    save_file({"weight": np.ones(2)}, path, metadata={serialization._LAYOUT: json.dumps(layout)})
    with pytest.raises(ValueError, match=r"damaged\.safetensors.*names the tensor 'bias'.*does not hold"):
        st.load(path)


def test_a_layout_of_an_unknown_form_is_a_value_error(tmp_path):
    from safetensors.numpy import save_file
    path = str(tmp_path / "damaged.safetensors")
    save_file({"w": np.ones(2)}, path, metadata={serialization._LAYOUT: json.dumps({"dict": [["w", {"x": 1}]]})})
    with pytest.raises(ValueError, match=r"damaged layout.*\{'x': 1\}"):
        st.load(path)


def test_latest_checkpoint_skips_a_file_whose_layout_names_a_missing_tensor(tmp_path):
    from safetensors.numpy import save_file

    from sparktensor import dist
    st.save({"round": 1, "model": {"w": np.ones(2)}}, tmp_path / "round-000001.safetensors")
    layout = {"dict": [["round", {"value": 2}], ["model", {"dict": [["w", {"tensor": "model.w"}]]}]]}
    save_file({"other": np.ones(2)}, str(tmp_path / "round-000002.safetensors"),
              metadata={serialization._LAYOUT: json.dumps(layout)})
    path, state = dist.latest_checkpoint(str(tmp_path))
    assert os.path.basename(path) == "round-000001.safetensors" and state["round"] == 1


def npz_with_member(path, name, header_shape, data, dtype="<f8"):
    """An ``.npz`` whose member ``name`` has an ``.npy`` header declaring ``header_shape`` but holds ``data``."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": dtype, "fortran_order": False, "shape": header_shape})
    member.write(data)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.npy", member.getvalue())


def test_an_npz_member_declaring_more_than_it_holds_is_refused_before_unpacking(tmp_path):
    path = str(tmp_path / "lying.npz")
    npz_with_member(path, "weight", (1 << 40,), np.zeros(4).tobytes())
    with pytest.raises(ValueError, match=r"'weight' declares shape \(1099511627776,\).*archive holds 32 bytes"):
        st.load(path)


def test_an_npz_that_would_unpack_past_the_memory_is_refused(tmp_path, monkeypatch):
    path = str(tmp_path / "bomb.npz")
    np.savez_compressed(path, zeros=np.zeros(4 << 20))  # 32 MiB of zeros in a file of some 30 KiB
    assert os.path.getsize(path) < (1 << 20)
    monkeypatch.setattr(serialization, "_memory_bytes", lambda: 16 << 20)
    with pytest.raises(ValueError, match="more than this machine's memory"):
        st.load(path)


def test_npz_files_of_numpy_load_as_numpy_loads_them(tmp_path):
    path = str(tmp_path / "plain.npz")
    arrays = {"a": np.arange(7, dtype=np.int16), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              "e": np.zeros((0, 3), np.float32), "s": np.float64(2.5)}
    np.savez_compressed(path, **arrays)
    loaded = st.load(path)
    with np.load(path) as expected:
        for name in arrays:
            assert loaded[name].numpy().dtype == expected[name].dtype
            np.testing.assert_array_equal(loaded[name].numpy(), expected[name])


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_truncated_file_is_a_value_error_naming_it(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    st.save({"w": np.arange(1000.0)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=f"cut{suffix}"):
        st.load(path)


def test_a_safetensors_file_whose_header_length_starts_with_0x80_loads(tmp_path):
    path = str(tmp_path / "state.safetensors")
    for width in range(300):  # grow the header until its length's first byte is 0x80, a pickle's first byte
        st.save({"x": st.ones(2), "note": "a" * width}, path)
        with open(path, "rb") as f:
            if f.read(1) == b"\x80":
                break
    else:
        raise AssertionError("no header length ending in 0x80 was reached")
    loaded = st.load(path)
    assert loaded["note"] == "a" * width and loaded["x"].numpy().tolist() == [1.0, 1.0]
