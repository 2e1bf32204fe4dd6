"""Synthetic data-breach incident records for the demo collection.

Every record is made up: organisations, places and narratives are assembled from
vocabulary and sentence templates written for vecfleet, so the repository ships no
third-party text. Output is a pure function of ``(n, seed)`` and ``GENERATOR_VERSION``:
the generator draws only ``random.Random.random()``, whose sequence Python keeps stable,
so cached demo embeddings stay valid across runs and machines.

The distributions are shaped like public breach chronologies: healthcare reports most,
counts of records affected are heavy-tailed and often unknown, and severity follows the
count, falling back to the mechanism when the count is unknown (see ``severity_of``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Generic, TypeVar

from vecfleet.errors import ValidationError
from vecfleet.types import FieldType

GENERATOR_VERSION = 1
"""Bump whenever output for a given seed changes; demo caches are keyed by it."""
DEFAULT_SIZE = 78_767
DEFAULT_SEED = 7
FIRST_YEAR, LAST_YEAR = 2005, 2025
SEVERITIES = ("low", "medium", "high", "critical")

T = TypeVar("T")


class _Weighted(Generic[T]):
    """A weighted choice drawing a single ``random()``; ``random.choices`` may change."""

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in items]
        self.cum = list(accumulate(weight for _, weight in items))

    def pick(self, rng: random.Random) -> T:
        i = bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.items[min(i, len(self.items) - 1)]


def _one(rng: random.Random, options: Sequence[T]) -> T:
    return options[int(rng.random() * len(options))]


def _normal(rng: random.Random) -> float:
    """Standard normal by Box–Muller, from two ``random()`` draws."""
    return math.sqrt(-2.0 * math.log(1.0 - rng.random())) * math.cos(2 * math.pi * rng.random())


@dataclass(frozen=True)
class Mechanism:
    """How a breach happened: its event type, typical size and the words to tell it."""

    key: str
    event_type: str
    malicious: bool
    weight: float
    log10_records: float
    unknown_share: float
    titles: tuple[str, ...]
    openings: tuple[str, ...]
    responses: tuple[str, ...] = ()
    exposes: str = ""
    """A data type this mechanism always exposes, whatever the industry."""


# fmt: off
MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism(
        "phishing", "hacking or malware", True, 10, 3.3, 0.35,
        ("Phishing email compromises staff mailbox at {org}",
         "{org} reports email account takeover after phishing",
         "Staff credentials phished at {org}"),
        ("An employee of {org}, a {kind} in {city}, typed their password into a fake login "
         "page sent in a phishing email, giving an intruder access to their mailbox.",
         "Attackers sent invoice-themed phishing messages to staff at {org} and used the "
         "stolen passwords to read several email accounts.",
         "{org}, a {kind} in {city}, found that a staff email account had been opened by an "
         "outside party after a phishing message harvested the login."),
    ),
    Mechanism(
        "ransomware", "hacking or malware", True, 8, 4.0, 0.4,
        ("Ransomware attack disrupts {org}",
         "{org} hit by ransomware, files encrypted",
         "Ransomware group claims stolen data from {org}"),
        ("Ransomware encrypted file servers and backups at {org}, a {kind} in {city}, "
         "forcing staff onto paper processes for several days.",
         "A criminal group deployed ransomware across the network of {org} and later "
         "published a sample of stolen files on its leak site.",
         "{org} took its systems offline after ransomware was detected on workstations at "
         "its {city} offices."),
        ("{org} restored its systems from offline backups and declined to pay the ransom.",
         "The organisation said it paid an undisclosed ransom to obtain a decryption key."),
    ),
    Mechanism(
        "credential_stuffing", "hacking or malware", True, 4, 3.8, 0.3,
        ("Credential stuffing attack hits {adj} accounts at {org}",
         "Reused passwords let attackers into {org} online accounts"),
        ("Attackers used usernames and passwords leaked from other services to log in to "
         "{adj} accounts on the online portal of {org}.",
         "A wave of automated login attempts against {org}, a {kind} in {city}, succeeded "
         "for accounts whose owners had reused passwords."),
        (), "account passwords",
    ),
    Mechanism(
        "web_exploit", "hacking or malware", True, 5, 4.0, 0.3,
        ("Web application flaw exposes {adj} data at {org}",
         "SQL injection attack on {org} website"),
        ("An attacker exploited an unpatched flaw in a web application run by {org}, a "
         "{kind} in {city}, and copied records from the database behind it.",
         "Intruders used SQL injection against the public website of {org} to pull rows "
         "from a database of {people}."),
    ),
    Mechanism(
        "vendor", "hacking or malware", True, 5, 4.2, 0.3,
        ("Vendor breach exposes {adj} data held for {org}",
         "Third-party provider breach affects {org}"),
        ("A software vendor that processes data for {org} was breached, and files belonging "
         "to the {kind} were among those taken.",
         "{org} learned from a billing contractor that an intruder had been inside the "
         "contractor's systems, which held information about its {people}."),
    ),
    Mechanism(
        "open_bucket", "unintended disclosure", False, 5, 4.5, 0.3,
        ("Misconfigured storage bucket exposes {org} records",
         "Unprotected database at {org} left open online"),
        ("A cloud storage bucket used by {org}, a {kind} in {city}, had been set to public, "
         "leaving its files readable by anyone who had the address.",
         "A security researcher found an unprotected database belonging to {org} that "
         "could be browsed without a password."),
        ("The bucket was locked down within a day of the report and access logs were "
         "reviewed for signs of download.",),
    ),
    Mechanism(
        "misdirected_email", "unintended disclosure", False, 6, 2.0, 0.3,
        ("Misdirected email at {org} shares {adj} details",
         "{org} sends {adj} details to the wrong recipients"),
        ("A staff member at {org} attached a spreadsheet of {adj} information to an email "
         "and sent it to the wrong distribution list.",
         "Letters from {org}, a {kind} in {city}, were printed with the wrong addresses "
         "after a mail-merge error, so recipients received other people's details.",
         "An employee of {org} accepted an address suggested by autocomplete and emailed a "
         "file to an outside contact instead of a colleague."),
    ),
    Mechanism(
        "web_posting", "unintended disclosure", False, 3, 3.0, 0.35,
        ("{org} posts sensitive files on public website",),
        ("Documents holding {adj} information were posted to a public page of the {org} "
         "website and indexed by search engines.",
         "A report meant for internal use at {org}, a {kind} in {city}, was uploaded to the "
         "organisation's public site with {adj} details left in it."),
    ),
    Mechanism(
        "stolen_laptop", "portable device", False, 8, 3.1, 0.4,
        ("Stolen laptop holds {adj} data from {org}",
         "Laptop theft at {org} puts records at risk"),
        ("A laptop was stolen from an employee's car outside the {city} office of {org}; "
         "the device was not encrypted.",
         "Thieves took an unencrypted laptop from a locked office at {org}, a {kind} in "
         "{city}.",
         "A work laptop belonging to {org} went missing while an employee was travelling."),
    ),
    Mechanism(
        "lost_media", "portable device", False, 4, 3.7, 0.4,
        ("Backup tapes lost in transit by {org}",
         "{org} loses unencrypted USB drive"),
        ("Backup tapes from {org} never arrived at the off-site storage company and could "
         "not be found.",
         "An employee of {org}, a {kind} in {city}, lost a USB drive holding an unencrypted "
         "copy of {adj} records."),
    ),
    Mechanism(
        "office_burglary", "stationary device", False, 3, 3.3, 0.4,
        ("Computers stolen in break-in at {org}",),
        ("Burglars broke into the {city} office of {org} overnight and took several desktop "
         "computers and a file server.",
         "Two desktop computers holding {adj} records were taken from a storage room at "
         "{org}, a {kind} in {city}."),
    ),
    Mechanism(
        "insider", "insider", True, 6, 1.8, 0.5,
        ("Employee accessed {adj} records without authorisation at {org}",
         "Insider theft of data at {org}"),
        ("An employee of {org} looked up {adj} records without a business reason over a "
         "period of months.",
         "A former staff member of {org}, a {kind} in {city}, downloaded {adj} files before "
         "leaving to join a competitor.",
         "A worker at {org} copied {adj} details and sold them to a ring involved in "
         "identity theft."),
        ("The employee involved was dismissed and the matter was referred to police.",),
    ),
    Mechanism(
        "card_skimming", "payment card fraud", True, 4, 3.3, 0.35,
        ("Card skimmers found at {org} locations",
         "Payment card malware at {org}"),
        ("Card skimming devices were found attached to payment terminals at {org} sites in "
         "and around {city}.",
         "Malware on the point-of-sale system of {org} captured card numbers as they were "
         "swiped.",
         "Malicious code added to the checkout page of the {org} website copied card "
         "details typed in by {people}."),
        ("The card brands were alerted so that issuing banks could watch for fraud.",),
        "payment card numbers",
    ),
    Mechanism(
        "paper_records", "physical loss", False, 5, 2.0, 0.5,
        ("Paper records found in dumpster behind {org}",
         "{org} loses box of paper files"),
        ("Boxes of paper files from {org}, a {kind} in {city}, were found in an unlocked "
         "recycling bin instead of being shredded.",
         "A box of paper records from {org} went missing during an office move."),
    ),
    Mechanism(
        "undisclosed", "unknown", False, 2, 2.8, 0.6,
        ("{org} reports data breach, cause not disclosed",),
        ("{org}, a {kind} in {city}, told {people} about a data security incident but did "
         "not say how it happened.",),
    ),
)
# fmt: on
EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(m.event_type for m in MECHANISMS))


@dataclass(frozen=True)
class OrgKind:
    """A kind of organisation: what it is called, whom it holds data about, its names."""

    kind: str
    people: str
    adj: str
    suffixes: tuple[str, ...]


@dataclass(frozen=True)
class Industry:
    name: str
    weight: float
    log10_shift: float
    kinds: tuple[OrgKind, ...]
    data: tuple[tuple[str, float], ...]
    mechanism_bias: tuple[tuple[str, float], ...] = ()


# fmt: off
_COMMON_DATA = (("names with home addresses", 5), ("dates of birth", 3),
                ("Social Security numbers", 4), ("email addresses", 2), ("phone numbers", 1))
INDUSTRIES: tuple[Industry, ...] = (
    Industry("Healthcare", 27, 0.1, (
        OrgKind("hospital", "patients", "patient", ("Regional Hospital", "Medical Center")),
        OrgKind("medical clinic", "patients", "patient", ("Family Clinic", "Health Partners")),
        OrgKind("dental practice", "patients", "patient", ("Dental Group",)),
        OrgKind("health insurer", "members", "member", ("Health Plan", "Care Insurance")),
        OrgKind("pharmacy chain", "customers", "customer", ("Pharmacy",)),
        OrgKind("medical billing firm", "patients", "patient", ("Billing Services",)),
    ), (*_COMMON_DATA, ("medical record numbers", 4), ("clinical diagnoses", 5),
                       ("health insurance policy numbers", 4), ("prescription histories", 2)),
        (("insider", 1.8), ("stolen_laptop", 1.4), ("paper_records", 1.6),
         ("card_skimming", 0.1))),
    Industry("Financial Services", 16, 0.3, (
        OrgKind("community bank", "customers", "customer", ("Savings Bank", "National Bank")),
        OrgKind("credit union", "members", "member", ("Credit Union",)),
        OrgKind("insurance carrier", "policyholders", "policyholder", ("Mutual Insurance",)),
        OrgKind("mortgage lender", "borrowers", "borrower", ("Home Lending",)),
        OrgKind("payroll processor", "employees of client firms", "payroll", ("Payroll",)),
        OrgKind("tax preparation firm", "clients", "client", ("Tax Services",)),
    ), (*_COMMON_DATA, ("bank account numbers", 5), ("payment card numbers", 3),
                       ("loan application files", 2), ("tax returns", 1)),
        (("credential_stuffing", 1.8), ("phishing", 1.3), ("card_skimming", 0.6))),
    Industry("Education", 12, 0.0, (
        OrgKind("state university", "students", "student", ("State University",)),
        OrgKind("community college", "students", "student", ("Community College",)),
        OrgKind("school district", "students and staff", "student", ("School District",)),
        OrgKind("private college", "alumni", "alumni", ("College",)),
    ), (*_COMMON_DATA, ("student ID numbers", 4), ("academic transcripts", 3),
                       ("financial aid records", 3)),
        (("web_exploit", 1.6), ("web_posting", 2.0), ("ransomware", 1.4))),
    Industry("Public Sector", 13, 0.3, (
        OrgKind("county government", "residents", "resident", ("County",)),
        OrgKind("state agency", "residents", "resident", ("Department of Revenue",)),
        OrgKind("city police department", "residents", "resident", ("Police Department",)),
        OrgKind("motor vehicle office", "drivers", "driver", ("Motor Vehicle Office",)),
        OrgKind("veterans office", "veterans", "veteran", ("Veterans Services",)),
    ), (*_COMMON_DATA, ("driver's licence numbers", 4), ("tax records", 3),
                       ("voter registration details", 2), ("benefit claim files", 2)),
        (("web_posting", 2.0), ("misdirected_email", 1.4), ("paper_records", 1.3))),
    Industry("Retail", 11, 0.4, (
        OrgKind("supermarket chain", "shoppers", "shopper", ("Markets", "Grocers")),
        OrgKind("restaurant group", "diners", "diner", ("Restaurant Group", "Grill")),
        OrgKind("online retailer", "customers", "customer", ("Outfitters", "Goods Company")),
        OrgKind("hotel chain", "guests", "guest", ("Hotels", "Inns")),
        OrgKind("fuel station chain", "customers", "customer", ("Fuel Stop",)),
    ), (("payment card numbers", 8), ("card security codes", 4),
        ("names with home addresses", 3), ("email addresses", 3), ("order histories", 2),
        ("loyalty account passwords", 2)),
        (("card_skimming", 5.0), ("credential_stuffing", 1.5), ("insider", 0.5),
         ("paper_records", 0.3))),
    Industry("Technology", 7, 0.6, (
        OrgKind("software company", "users", "user", ("Software", "Labs")),
        OrgKind("cloud hosting provider", "customers", "customer", ("Cloud", "Hosting")),
        OrgKind("telecom carrier", "subscribers", "subscriber", ("Wireless", "Telecom")),
        OrgKind("mobile app developer", "users", "user", ("Apps",)),
        OrgKind("IT services firm", "clients", "client", ("Systems", "Tech Services")),
    ), (("email addresses", 5), ("hashed passwords", 4), ("usernames", 3),
        ("names with home addresses", 2), ("phone numbers", 2), ("API keys", 1)),
        (("open_bucket", 2.5), ("credential_stuffing", 2.0), ("web_exploit", 1.8),
         ("paper_records", 0.2))),
    Industry("Nonprofit", 4, -0.4, (
        OrgKind("charity", "donors", "donor", ("Foundation", "Relief Fund")),
        OrgKind("religious organisation", "members", "member", ("Fellowship",)),
        OrgKind("food bank", "clients", "client", ("Food Bank",)),
        OrgKind("advocacy group", "supporters", "supporter", ("Alliance",)),
    ), (*_COMMON_DATA, ("donation records", 4), ("bank account numbers", 1)),
        (("vendor", 2.0), ("phishing", 1.3))),
    Industry("Other", 10, 0.1, (
        OrgKind("manufacturer", "employees", "employee", ("Manufacturing", "Industries")),
        OrgKind("law firm", "clients", "client", ("Law Group", "& Partners")),
        OrgKind("logistics company", "customers", "customer", ("Freight", "Logistics")),
        OrgKind("energy utility", "customers", "customer", ("Power", "Energy")),
        OrgKind("staffing agency", "job applicants", "applicant", ("Staffing",)),
    ), (*_COMMON_DATA, ("payroll records", 3), ("employee personnel files", 3),
                       ("W-2 tax forms", 2)),
        (("phishing", 1.5), ("office_burglary", 1.3))),
)
INDUSTRY_NAMES: tuple[str, ...] = tuple(ind.name for ind in INDUSTRIES)

_NAME_STEMS = (
    "Northgate", "Cedar Valley", "Harborview", "Summit", "Pinecrest", "Riverbend",
    "Lakeside", "Granite State", "Meridian", "Bluewater", "Oakridge", "Silver Creek",
    "Westfield", "Eastbrook", "Redstone", "Ironwood", "Maplewood", "Crescent", "Prairie",
    "Highland", "Stonebridge", "Fairhaven", "Clearwater", "Brightway", "Keystone",
    "Evergreen", "Copper Hill", "Sandpoint", "Juniper", "Foxglove", "Tidewater", "Alder",
)
_US_CITIES = (
    ("Columbus", "Ohio"), ("Cleveland", "Ohio"), ("Austin", "Texas"), ("Houston", "Texas"),
    ("Dallas", "Texas"), ("San Diego", "California"), ("Sacramento", "California"),
    ("Los Angeles", "California"), ("Fresno", "California"), ("Denver", "Colorado"),
    ("Phoenix", "Arizona"), ("Tucson", "Arizona"), ("Seattle", "Washington"),
    ("Spokane", "Washington"), ("Portland", "Oregon"), ("Boise", "Idaho"),
    ("Salt Lake City", "Utah"), ("Omaha", "Nebraska"), ("Kansas City", "Missouri"),
    ("St. Louis", "Missouri"), ("Chicago", "Illinois"), ("Springfield", "Illinois"),
    ("Indianapolis", "Indiana"), ("Detroit", "Michigan"), ("Grand Rapids", "Michigan"),
    ("Milwaukee", "Wisconsin"), ("Minneapolis", "Minnesota"), ("Nashville", "Tennessee"),
    ("Memphis", "Tennessee"), ("Atlanta", "Georgia"), ("Charlotte", "North Carolina"),
    ("Raleigh", "North Carolina"), ("Richmond", "Virginia"), ("Baltimore", "Maryland"),
    ("Philadelphia", "Pennsylvania"), ("Pittsburgh", "Pennsylvania"),
    ("Newark", "New Jersey"), ("Albany", "New York"), ("Buffalo", "New York"),
    ("New York", "New York"), ("Boston", "Massachusetts"), ("Hartford", "Connecticut"),
    ("Providence", "Rhode Island"), ("Portland", "Maine"), ("Miami", "Florida"),
    ("Tampa", "Florida"), ("Orlando", "Florida"), ("New Orleans", "Louisiana"),
    ("Birmingham", "Alabama"), ("Little Rock", "Arkansas"), ("Oklahoma City", "Oklahoma"),
    ("Albuquerque", "New Mexico"), ("Las Vegas", "Nevada"), ("Honolulu", "Hawaii"),
    ("Anchorage", "Alaska"), ("Des Moines", "Iowa"), ("Louisville", "Kentucky"),
)
_WORLD_CITIES = (
    ("Toronto", "Canada"), ("Vancouver", "Canada"), ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"), ("Dublin", "Ireland"), ("Sydney", "Australia"),
    ("Melbourne", "Australia"), ("Auckland", "New Zealand"), ("Berlin", "Germany"),
    ("Amsterdam", "Netherlands"), ("Singapore", "Singapore"), ("Bangalore", "India"),
)
_LAGS = ("two days", "a week", "ten days", "three weeks", "a month", "two months",
         "four months", "nearly a year")
_DISCOVERIES = (
    "The problem was found {lag} later during a routine audit.",
    "Staff noticed unusual activity {lag} after it began.",
    "An outside security researcher reported the issue to the organisation.",
    "It came to light when {people} reported suspicious charges and messages.",
    "Law enforcement alerted the organisation {lag} after the incident.",
    "Monitoring tools flagged the activity within hours.",
)
_RESPONSES = (
    "Affected {people} were offered {months} months of free credit monitoring.",
    "{org} reset passwords, hired a forensic firm and notified the state attorney general.",
    "The organisation notified regulators and mailed letters to those affected.",
    "{org} said it has since added encryption and retrained staff.",
    "A call centre was set up to answer questions from affected {people}.",
)
_DATA_SENTENCES = (
    "The exposed information included {data}.",
    "{count} had {data} exposed.",
    "Files involved held {data} for {count}.",
    "The incident affected {count}; {data} were involved.",
)

# fmt: on


def severity_of(records_affected: int | None, mechanism: Mechanism) -> str:
    """Severity from the count; unknown counts fall back to how the breach happened."""
    if records_affected:
        if records_affected >= 1_000_000:
            return "critical"
        if records_affected >= 50_000:
            return "high"
        return "medium" if records_affected >= 1_000 else "low"
    if mechanism.key == "ransomware":
        return "high"
    return "medium" if mechanism.malicious else "low"


class _Tables:
    """Weighted tables built once per call, so the per-record loop only draws."""

    def __init__(self) -> None:
        self.industry = _Weighted([(ind, ind.weight) for ind in INDUSTRIES])
        self.mechanism = {ind.name: _mechanisms_for(ind) for ind in INDUSTRIES}
        self.data = {ind.name: _Weighted(ind.data) for ind in INDUSTRIES}
        span = range(FIRST_YEAR, LAST_YEAR + 1)
        # Reported breaches grow over time; the newest year is only partly reported.
        self.year = _Weighted([(y, 1.0 + 0.15 * (y - FIRST_YEAR)) for y in span])


def _mechanisms_for(industry: Industry) -> _Weighted[Mechanism]:
    bias = dict(industry.mechanism_bias)
    return _Weighted([(m, m.weight * bias.get(m.key, 1.0)) for m in MECHANISMS])


def _records(rng: random.Random, mech: Mechanism, ind: Industry) -> int | None:
    """Heavy-tailed: log-normal with a per-mechanism median, often simply unknown."""
    if rng.random() < mech.unknown_share:
        return None
    log10 = mech.log10_records + ind.log10_shift + _normal(rng)
    return max(1, min(int(10**log10), 300_000_000))


def _date(rng: random.Random, tables: _Tables) -> str:
    year = tables.year.pick(rng)
    start = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - start).days
    return (start + dt.timedelta(days=int(rng.random() * days))).isoformat()


def _data_list(rng: random.Random, table: _Weighted[str], always: str) -> str:
    drawn = [table.pick(rng) for _ in range(1 + int(rng.random() * 3))]
    picked = list(dict.fromkeys([always, *drawn] if always else drawn))
    return picked[0] if len(picked) == 1 else ", ".join(picked[:-1]) + " and " + picked[-1]


def _count_phrase(n: int | None, people: str) -> str:
    if n is None:
        return f"an undisclosed number of {people}"
    return f"{n:,} {people[:-1] if n == 1 and people.endswith('s') else people}"


def _narrative(rng: random.Random, words: dict[str, str], mech: Mechanism) -> str:
    """Two to four sentences: what happened, what was exposed, discovery, response."""
    sentences = [_one(rng, mech.openings), _one(rng, _DATA_SENTENCES)]
    if rng.random() < 0.55:
        sentences.append(_one(rng, _DISCOVERIES))
    if rng.random() < 0.6:
        own = mech.responses if mech.responses and rng.random() < 0.5 else _RESPONSES
        sentences.append(_one(rng, own))
    return " ".join(_capitalised(s.format(**words)) for s in sentences)


def _capitalised(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _record(i: int, rng: random.Random, tables: _Tables) -> dict[str, Any]:
    ind = tables.industry.pick(rng)
    mech = tables.mechanism[ind.name].pick(rng)
    kind = _one(rng, ind.kinds)
    city, region = _one(rng, _WORLD_CITIES if rng.random() < 0.08 else _US_CITIES)
    records = _records(rng, mech, ind)
    words = {
        "org": f"{_one(rng, _NAME_STEMS)} {_one(rng, kind.suffixes)}",
        "kind": kind.kind,
        "city": city,
        "people": kind.people,
        "adj": kind.adj,
        "data": _data_list(rng, tables.data[ind.name], mech.exposes),
        "count": _count_phrase(records, kind.people),
        "lag": _one(rng, _LAGS),
        "months": str(_one(rng, (12, 12, 18, 24))),
    }
    title = _one(rng, mech.titles).format(**words)
    return {
        "id": f"inc-{i:06d}",
        "title": _capitalised(title),
        "narrative": _narrative(rng, words, mech),
        "industry": ind.name,
        "severity": severity_of(records, mech),
        "event_type": mech.event_type,
        "date": _date(rng, tables),
        "location": f"{city}, {region}",
        "records_affected": records,
    }


def generate_incidents(n: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """Yield ``n`` synthetic incidents ``inc-000001`` …, the same ones for the same seed.

    Checks ``n`` at the call, not at the first ``next``; records are made lazily.
    """
    if n < 0:
        raise ValidationError(f"n must be >= 0, got {n}", n=n)
    return _generate(n, random.Random(seed), _Tables())


def _generate(n: int, rng: random.Random, tables: _Tables) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield _record(i, rng, tables)


def demo_payload_schema() -> dict[str, FieldType]:
    """The payload fields the demo collection indexes, with their types."""
    return {
        "industry": "keyword",
        "severity": "keyword",
        "event_type": "keyword",
        "date": "datetime",
        "records_affected": "integer",
    }


def record_text(rec: dict[str, Any]) -> str:
    """The text embedded for a record: title, newline, narrative."""
    return f"{rec['title']}\n{rec['narrative']}"
