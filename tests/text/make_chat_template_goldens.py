#!/usr/bin/env python3
"""Writes tests/data/tokenizer/chat_templates/goldens.json: chat templates rendered by Jinja2 with
the environment transformers uses for chat templates (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, its tojson and raise_exception, {% generation %} rendered as its
content). Run by hand when cases change; the tests compare glimpse's renderer with the file.

Conversations are structured like glimpse's: parts of type "image" or "text". For templates that
loop over message content the parts are passed as a list; for the others each message's content
is a string in which an image part becomes "<image>\\n" and text parts are joined with "\\n",
which is glimpse's ContentFormat::kString rule.
"""
import json
import os
import sys

import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.join(os.path.dirname(__file__), "..", "data", "tokenizer", "chat_templates")


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def flatten(parts):
    out = ""
    previous_text = False
    for part in parts:
        if part["type"] == "image":
            out += "<image>\n"
            previous_text = False
        else:
            if previous_text:
                out += "\n"
            out += part["text"]
            previous_text = True
    return out


def text(t):
    return {"type": "text", "text": t}


IMAGE = {"type": "image"}
CONVERSATIONS = {
    "one_image": [{"role": "user", "parts": [IMAGE, text("What is shown in this image?")]}],
    "text_only": [{"role": "user", "parts": [text("Hello, who are you?")]}],
    "multi_turn": [
        {"role": "system", "parts": [text("  You are a careful assistant.  ")]},
        {"role": "user", "parts": [IMAGE, text("Describe the image.")]},
        {"role": "assistant", "parts": [text("A cat on a mat.")]},
        {"role": "user", "parts": [text("And the colour\nof the mat?"), text("Be brief.")]},
    ],
    "special_strings_in_text": [
        {"role": "user", "parts": [text(" <image> </s> <s> <|im_start|>user\n [INST] keep these as text "), IMAGE]},
    ],
    "alternation_error": [
        {"role": "user", "parts": [text("one")]},
        {"role": "user", "parts": [text("two")]},
    ],
}
TEMPLATES = {
    "llava_hf": "parts",
    "features": "parts",
    "vicuna": "string",
    "mistral_instruct_v0_1": "string",
    "chatml": "string",
    "qwen2_5_instruct": "string",
    "llama3_1": "string",
}
TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def main():
    env = environment()
    cases = []
    for name, content_format in TEMPLATES.items():
        with open(os.path.join(HERE, name + ".jinja"), encoding="utf-8") as f:
            template = env.from_string(f.read())
        for conversation_name, conversation in CONVERSATIONS.items():
            for add_generation_prompt in (True, False):
                messages = []
                for message in conversation:
                    content = message["parts"] if content_format == "parts" else flatten(message["parts"])
                    messages.append({"role": message["role"], "content": content})
                case = {"template": name, "conversation": conversation_name,
                        "add_generation_prompt": add_generation_prompt, "content_format": content_format}
                try:
                    case["expected"] = template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                       **TOKENS)
                except jinja2.exceptions.TemplateError as error:
                    case["error"] = str(error)
                cases.append(case)
    out = {"generator": "tests/text/make_chat_template_goldens.py", "jinja2": jinja2.__version__,
           "python": sys.version.split()[0], "tokens": TOKENS, "conversations": CONVERSATIONS, "cases": cases}
    with open(os.path.join(HERE, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases written")


if __name__ == "__main__":
    main()
