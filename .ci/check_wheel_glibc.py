"""Check a manylinux wheel's glibc floor against what its binaries need.

    python .ci/check_wheel_glibc.py WHEEL [--oldest 2.17] [--expect-clones]

Reads every ELF file in the wheel (the extension and the libraries auditwheel
bundled), lists the glibc symbol versions each needs (its .gnu.version_r
section, the same data as `objdump -T`) and fails when
  - the highest GLIBC_x.y needed is newer than the floor of the wheel's tag
    (manylinux2014 = 2.17, manylinux_2_28 = 2.28, ...), or
  - that floor is newer than --oldest (default 2.28: the oldest glibc the
    wheels must install on), or
  - anything needs GLIBC_PRIVATE, or the wheel holds no ELF file at all, or
  - a versioned symbol that a file takes from a bundled library (e.g.
    GOMP_parallel@GOMP_4.0 from the bundled libgomp) is not defined there, or
  - (--expect-clones) an x86-64 extension module has neither an ifunc
    (IRELATIVE) relocation (gcc's target_clones) nor gcc's CPU probe
    __cpu_indicator_init in its symbol table (the vector kernels' own
    dispatch by __builtin_cpu_supports, src/include/vec_isa.h): its ISA
    builds did not survive the build.
Needs pyelftools (installed with auditwheel).
"""
import argparse
import io
import posixpath
import re
import sys
import zipfile

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection, GNUVerSymSection
from elftools.elf.relocation import RelocationSection

LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
R_X86_64_IRELATIVE = 37


def tag_floor(wheel_name):
    """The oldest glibc the wheel's platform tags claim, and the tags."""
    plat = wheel_name[:-len(".whl")].split("-")[-1]
    floors = []
    for tag in plat.split("."):
        m = re.match(r"manylinux_(\d+)_(\d+)_", tag)
        if m:
            floors.append((int(m.group(1)), int(m.group(2))))
        elif tag.split("_")[0] in LEGACY:
            floors.append(LEGACY[tag.split("_")[0]])
    if not floors:
        sys.exit(f"{wheel_name}: no manylinux platform tag ({plat})")
    return min(floors), plat


class Elf:
    """What the checks need from one ELF file."""

    def __init__(self, data):
        elf = ELFFile(io.BytesIO(data))
        self.glibc, self.private = set(), False
        self.imports = []  # (symbol, version, file the version is needed from)
        self.exports = set()  # (symbol, version) defined here
        need = {}  # version index -> (file, version name)
        defs = {}  # version index -> version name
        versym = dynsym = None
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for verneed, auxes in section.iter_versions():
                    for aux in auxes:
                        need[aux["vna_other"]] = (verneed.name, aux.name)
                        if aux.name == "GLIBC_PRIVATE":
                            self.private = True
                        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", aux.name)
                        if m:
                            self.glibc.add(tuple(int(x) for x in m.group(1).split(".")))
            elif isinstance(section, GNUVerDefSection):
                for verdef, auxes in section.iter_versions():
                    names = [a.name for a in auxes]
                    if names:
                        defs[verdef["vd_ndx"]] = names[0]
            elif isinstance(section, GNUVerSymSection):
                versym = section
            elif section.name == ".dynsym":
                dynsym = section
        if dynsym is not None and versym is not None:
            for i, sym in enumerate(dynsym.iter_symbols()):
                ndx = versym.get_symbol(i)["ndx"]
                if not isinstance(ndx, int):
                    continue
                ndx &= 0x7FFF
                if sym["st_shndx"] == "SHN_UNDEF" and ndx in need:
                    self.imports.append((sym.name, need[ndx][1], need[ndx][0]))
                elif sym["st_shndx"] != "SHN_UNDEF" and ndx in defs:
                    self.exports.add((sym.name, defs[ndx]))
        dynamic = elf.get_section_by_name(".dynamic")
        self.needed = [t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED"] if dynamic else []
        self.irelative = 0  # ifunc resolvers: target_clones on x86-64
        if elf["e_machine"] == "EM_X86_64":
            for section in elf.iter_sections():
                if isinstance(section, RelocationSection) and section.name in (".rela.dyn", ".rela.plt"):
                    self.irelative += sum(r["r_info_type"] == R_X86_64_IRELATIVE
                                          for r in section.iter_relocations())
        self.x86_64 = elf["e_machine"] == "EM_X86_64"
        symtab = elf.get_section_by_name(".symtab")
        self.cpu_probe = symtab is not None and bool(symtab.get_symbol_by_name("__cpu_indicator_init"))

    @property
    def top(self):
        return max(self.glibc) if self.glibc else (0,)


def fmt(v):
    return ".".join(map(str, v))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("wheel")
    p.add_argument("--oldest", default="2.28",
                   help="fail when the tag's floor is newer than this glibc (default 2.28)")
    p.add_argument("--expect-clones", action="store_true",
                   help="fail when an x86-64 extension module has no ifunc (target_clones) "
                        "resolver and no CPU probe (__builtin_cpu_supports)")
    args = p.parse_args()
    name = args.wheel.rsplit("/", 1)[-1]
    floor, plat = tag_floor(name)
    oldest = tuple(int(x) for x in args.oldest.split("."))
    failed = False
    with zipfile.ZipFile(args.wheel) as zf:
        elves = {}
        for info in zf.infolist():
            data = zf.read(info)
            if data.startswith(b"\x7fELF"):
                elves[info.filename] = Elf(data)
    if not elves:
        sys.exit(f"{name}: no ELF file in the wheel")
    bundled = {posixpath.basename(path): e for path, e in elves.items() if ".libs/" in path}
    for path, e in elves.items():
        is_ext = ".libs/" not in path
        clones = (f"; {e.irelative} ifunc relocations" + ("; CPU probe" if e.cpu_probe else "")
                  if is_ext and e.x86_64 else "")
        print(f"  {path}: highest GLIBC_{fmt(e.top)}; NEEDED {', '.join(e.needed)}{clones}")
        if e.private:
            print(f"  FAIL: {path} needs GLIBC_PRIVATE (no glibc's stable ABI)")
            failed = True
        if is_ext and args.expect_clones and e.x86_64 and e.irelative == 0 and not e.cpu_probe:
            print(f"  FAIL: {path} has no ifunc relocation and no CPU probe: the ISA builds "
                  "are missing")
            failed = True
        missing = [f"{sym}@{ver}" for sym, ver, lib in e.imports
                   if lib in bundled and (sym, ver) not in bundled[lib].exports]
        if missing:
            print(f"  FAIL: {path} needs from bundled libraries what they lack: {', '.join(missing)}")
            failed = True
    worst_path = max(elves, key=lambda k: elves[k].top)
    worst = elves[worst_path].top
    print(f"platform tag: {plat}; its glibc floor: {fmt(floor)}")
    print(f"highest GLIBC_ symbol version needed: {fmt(worst)} ({worst_path})")
    if worst > floor:
        print(f"FAIL: needs glibc {fmt(worst)}, newer than the tag's floor {fmt(floor)}")
        failed = True
    if floor > oldest:
        print(f"FAIL: the tag's floor {fmt(floor)} is newer than glibc {fmt(oldest)}: "
              f"the wheel would not install there")
        failed = True
    if failed:
        return 1
    print(f"OK: glibc {fmt(worst)} needed <= {fmt(floor)} (tag floor) <= {fmt(oldest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
