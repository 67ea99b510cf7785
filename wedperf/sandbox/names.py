"""Small word lists that make the sandbox's fake people, couples, venues and vendors look real.

Everything here is invented; no list is a sample of real customers. The generators take a numpy
Generator so a seed reproduces the same names.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Charlotte", "Oliver", "Amelia", "James", "Sophia",
    "Elijah", "Mia", "William", "Harper", "Henry", "Evelyn", "Lucas", "Abigail", "Benjamin",
    "Emily", "Theodore", "Ella", "Jack", "Grace", "Levi", "Chloe", "Alexander", "Aria",
    "Mateo", "Zoe", "Daniel", "Nora", "Samuel", "Lily", "Julian", "Hannah", "Isaac", "Layla",
    "Leo", "Priya", "Mohammed", "Aisha", "Wei", "Mei", "Hiroshi", "Yuki", "Diego", "Lucia",
    "Kwame", "Amara", "Finn", "Siobhan", "Rhys", "Isla", "Arjun", "Ananya", "Tomas", "Ingrid",
    "Omar", "Leila", "Caleb", "Ruby", "Ezra", "Maya", "Hugo", "Freya", "Jude", "Willow",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Baker", "Nelson", "Campbell", "Mitchell", "Patel", "Shah", "Kim", "Park", "Chen",
    "Wang", "Tanaka", "Sato", "Okafor", "Mensah", "O'Brien", "Murphy", "MacLeod", "Evans",
    "Hughes", "Kowalski", "Novak", "Rossi", "Bianchi", "Silva", "Santos", "Cohen", "Levy",
)  # fmt: skip

EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "fastmail.com")

# Venue name parts; the city comes from the wedding's timezone so venues look local.
_VENUE_FIRST = (
    "Willow", "Rosewood", "Cedar", "Magnolia", "Harbor", "Juniper", "Stonebridge", "Oak Hollow",
    "Lakeside", "Silver Birch", "Foxglove", "Meadowbrook", "Old Mill", "Ivy", "Copper Beech",
)  # fmt: skip
_VENUE_SECOND = (
    "Barn", "Estate", "Manor", "Gardens", "Vineyard", "Loft", "Hall", "Inn", "Farm", "Pavilion",
)  # fmt: skip

CITIES = {
    "America/New_York": ("Brooklyn, NY", "Hudson Valley, NY", "Boston, MA", "Savannah, GA"),
    "America/Chicago": ("Chicago, IL", "Austin, TX", "Nashville, TN", "New Orleans, LA"),
    "America/Denver": ("Denver, CO", "Boulder, CO", "Santa Fe, NM", "Jackson, WY"),
    "America/Phoenix": ("Scottsdale, AZ", "Sedona, AZ", "Tucson, AZ"),
    "America/Los_Angeles": ("Napa, CA", "Malibu, CA", "Portland, OR", "Seattle, WA"),
    "Europe/London": ("London", "Cotswolds", "Edinburgh", "Bath"),
    "Australia/Sydney": ("Sydney", "Hunter Valley", "Blue Mountains", "Byron Bay"),
}

# kind -> word used in company names. The first six are on (nearly) every wedding's roster.
VENDOR_KINDS = {
    "photographer": "Photography",
    "caterer": "Catering",
    "florist": "Florals",
    "dj": "Sound",
    "officiant": "Ceremonies",
    "venue_coordinator": "Events",
    "videographer": "Films",
    "baker": "Cakes",
    "hair_makeup": "Beauty",
    "planner": "Weddings",
    "rentals": "Rentals",
    "band": "Band",
    "transportation": "Limousines",
    "stationer": "Paper Co.",
    "lighting": "Lighting",
    "photo_booth": "Photo Booth",
    "bartender": "Bar Co.",
    "jeweler": "Jewelers",
    "bridal_shop": "Bridal",
    "tailor": "Tailoring",
}
CORE_VENDOR_KINDS = 6
_COMPANY_FIRST = (
    "Golden Hour", "Evergreen", "Blue Lantern", "Wildflower", "Northstar", "Paper Moon",
    "Silver Lining", "Bluebird", "Honeybee", "Sunday Best", "True North", "Velvet",
    "Marigold", "Little Fox", "Firefly", "Two Hearts", "Amber", "Sage & Stone",
)  # fmt: skip


def pick(rng: np.random.Generator, words: tuple[str, ...], size: int) -> np.ndarray:
    """`size` words drawn uniformly from `words`, as a numpy object array."""
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), size=size)]


def guest_names(rng: np.random.Generator, size: int) -> tuple[list[str], list[str]]:
    """(full names, emails) of `size` fake guests; about 30% of emails carry a number."""
    firsts = pick(rng, FIRST_NAMES, size)
    lasts = pick(rng, LAST_NAMES, size)
    domains = pick(rng, EMAIL_DOMAINS, size)
    numbers = rng.integers(1, 100, size=size)
    numbered = rng.random(size) < 0.3
    full_names = [f"{f} {last}" for f, last in zip(firsts, lasts, strict=True)]
    emails = [
        f"{f}.{last.replace(chr(39), '')}{n if use else ''}@{d}".lower()
        for f, last, n, use, d in zip(firsts, lasts, numbers, numbered, domains, strict=True)
    ]
    return full_names, emails


def couple_names(rng: np.random.Generator, size: int) -> list[str]:
    """`size` couple names such as "Emma & Noah Patel"."""
    first_a = pick(rng, FIRST_NAMES, size)
    first_b = pick(rng, FIRST_NAMES, size)
    lasts = pick(rng, LAST_NAMES, size)
    return [f"{a} & {b} {last}" for a, b, last in zip(first_a, first_b, lasts, strict=True)]


def venue_names(rng: np.random.Generator, timezones: list[str]) -> list[str]:
    """One venue name per wedding, in a city of the wedding's timezone."""
    size = len(timezones)
    first = pick(rng, _VENUE_FIRST, size)
    second = pick(rng, _VENUE_SECOND, size)
    city_pick = rng.integers(0, 1_000, size=size)
    return [
        f"{a} {b}, {CITIES[tz][k % len(CITIES[tz])]}"
        for a, b, tz, k in zip(first, second, timezones, city_pick, strict=True)
    ]


def company_names(rng: np.random.Generator, kinds: list[str]) -> list[str]:
    """A company name for each vendor kind, e.g. "Golden Hour Photography"."""
    first = pick(rng, _COMPANY_FIRST, len(kinds))
    return [f"{a} {VENDOR_KINDS[kind]}" for a, kind in zip(first, kinds, strict=True)]
