"""Reading a rendered report's HTML in tests: its sections, tables and text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from auditkit.reports import ReportResult


@dataclass
class Page:
    """A rendered report, cut into its sections."""

    html: str
    sections: dict[str, str]

    def tables(self, section: str) -> list[list[list[str]]]:
        return [
            [
                [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
                for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
            ]
            for table in re.findall(r"<table.*?</table>", self.sections[section], re.S)
        ]

    def text(self, section: str) -> str:
        return _text(self.sections[section])

    def metric(self, name: str, section: str = "Overview") -> list[str]:
        for row in self.tables(section)[0]:
            if row[0] == name:
                return row[1:]
        raise AssertionError(f"no metric {name!r} in {section}")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def page(result: ReportResult) -> Page:
    text = result.html.read_text()
    parts = re.split(r'<h2 class="ak-section">(.*?)</h2>', text)
    sections = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[html.unescape(title)] = body
    return Page(text, sections)
