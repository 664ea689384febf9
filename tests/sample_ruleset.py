"""The small two-policy ruleset that the CLI and corpus tests share (formatted as `fmt` writes it)."""

from __future__ import annotations

__all__ = ["TWO_POLICIES"]

TWO_POLICIES = """\
policy violent_speech {
  title: "Violent speech"
  severity: high
  action: remove
}

policy spam {
  title: "Spam"
  severity: low
  action: label
}

terms threats = ["kill you", "shoot you"]
terms spammy = ["free money", "click here"]

rule vs_threat {
  policy: violent_speech
  when: any(threats)
  reason: "Threat: {evidence}"
  examples {
    match: "I will kill you"
    no_match: "hello there"
  }
}

rule spam_links {
  policy: spam
  when: any(spammy)
  examples {
    match: "click here for free money"
    no_match: "money is not free"
  }
}

rule spam_shadow {
  policy: spam
  mode: shadow
  when: any(["win big"])
  examples {
    match: "win big today"
  }
}
"""
