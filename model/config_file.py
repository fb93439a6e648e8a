"""Reading a TOML settings file as text editors save it; shared by the trainer's and the exhibit's configs.

TOML files are UTF-8 (TOML 1.0, "Spec"). Editors add to that: Windows Notepad may start the file with a UTF-8
byte-order mark, Windows line endings are CRLF, and the last line often has no newline. All of these are read.
A file in another encoding (UTF-16 from "Unicode" in Notepad, Latin-1 or Windows-1252 from older editors) is refused
with one line that names the encoding and how to save the file as UTF-8, instead of a puzzling TOML syntax error.
"""
import codecs
import tomllib
from pathlib import Path

UTF8_BOM = codecs.BOM_UTF8
OTHER_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",   # before UTF-16: FF FE 00 00
              codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
SAVE_AS_UTF8 = "save it as UTF-8 (in the editor's Save As, choose the encoding UTF-8)"


class ConfigFileError(ValueError):
    """A settings file that cannot be read as TOML; the one-line message names the file and the problem."""


def read_toml(path):
    """The TOML file at `path` as a dict. Raises ConfigFileError (one line, naming the file) if it is missing,
    unreadable, not UTF-8, or not valid TOML."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such config file") from None
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    return parse_toml(data, path)


def parse_toml(data, source):
    """bytes -> dict, as read_toml; `source` names the file in errors."""
    for bom, encoding in OTHER_BOMS.items():
        if data.startswith(bom):
            raise ConfigFileError(f"{source}: the file is {encoding} text, not UTF-8; {SAVE_AS_UTF8}")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    if b"\x00" in data:      # UTF-16 without a byte-order mark: every ASCII character comes with a zero byte
        raise ConfigFileError(f"{source}: the file holds zero bytes, as UTF-16 text does; {SAVE_AS_UTF8}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ConfigFileError(f"{source}: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}, column "
                              f"{column}; perhaps Latin-1 or Windows-1252); {SAVE_AS_UTF8}") from None
    # CRLF and old Mac CR line endings become LF: TOML allows CRLF, but a lone CR is a syntax error in it.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{source}: not valid TOML ({error})") from None
