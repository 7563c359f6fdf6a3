"""Writes the PDF documents of the evaluation sets: real, minimal PDFs (Helvetica text, correct xref).

Run by hand after changing a text below (`python bench/data/answers/make_pdfs.py`); the PDFs are committed.
No PDF tool is needed. Long documents flow onto further pages; headings are set in bold.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HERE = Path(__file__).parent
Section = tuple[str, list[str]]  # (heading, paragraphs); an empty heading continues without one

DOCUMENTS: dict[str, tuple[str, list[Section]]] = {
    "dev/docs/cars.pdf": (
        "Cars - Brannigan household",
        [
            ("Priya's car", [
                "Grey Toyota Yaris Hybrid, registration FE21 RKD. Tyre pressures: front 2.3 bar (33 psi), rear 2.2 bar "
                "(32 psi). Engine oil 0W-20. The MOT is due every year on 18 September.",
                "The spare key is in the top drawer of the study desk, in the envelope marked Y.",
            ]),
            ("Tom's car", [
                "Dark red Volvo V60 estate, registration LM68 TZV. It is a DIESEL: never put petrol in it. "
                "Tyre pressures: front 2.5 bar (36 psi); rear 2.5 bar normally, 2.8 bar (41 psi) when fully loaded "
                "for holidays. AdBlue is topped up approx. every 6,000 miles; the AdBlue filler is the blue cap next to "
                "the fuel cap.",
                "The Volvo's spare key is in the study safe. The roof bars are hung on the garage wall.",
            ]),
            ("Servicing", [
                "Both cars are serviced at Ashby Road Motors (ask for Marek), 01632 960 261. The Volvo's service is due "
                "every January, the Yaris's every July. Last Volvo service cost £310.",
            ]),
            ("Insurance and breakdown", [
                "Both cars are on one multi-car policy with Heronsgate Insurance, policy number HG-5531-072. "
                "Breakdown cover is with RoadReady, membership number 7730 1285 44; the rescue line is 0808 157 0321.",
                "Resident parking permit for Larkspur Close: permit LC-118, renewed every April at the council, £65.",
            ]),
        ],
    ),
    "dev/docs/medical.pdf": (
        "Health notes",
        [
            ("Doctors", [
                "Our GP practice is Fenwick Health Centre on Station Road. Tom and the kids are with Dr. Amrit Sandhu, "
                "Priya is with Dr. Claire Beaumont. Appointments line 01632 960 300, open from 8:00 on weekdays; "
                "ring at 8 sharp for a same-day appointment.",
                "Repeat prescriptions are ordered through the NHS app and collected from Hollin Pharmacy "
                "(open Mon to Sat, 9 am to 6 pm) about 3 working days later.",
            ]),
            ("Dentist", [
                "All four of us are at Brightsmile Dental, above the bakery on Station Road, with Dr. Kowalczyk. "
                "Check-ups every 6 months. The next check-up for the kids is on 3 July 2025 at 10:40; Tom and Priya "
                "are booked for 10 July at 9:00. NHS charges: band 1 check-up £27.40 per adult.",
            ]),
            ("Medicines and allergies", [
                "Tom takes ramipril 5 mg once a day, in the morning, for blood pressure. "
                "Priya is allergic to penicillin (rash); she has a medical alert note in her purse. "
                "Rory is allergic to peanuts (see the kids' notes for the EpiPen). "
                "Children's paracetamol and ibuprofen are in the locked box on top of the kitchen cupboard; "
                "the key is in the egg cup on the dresser.",
            ]),
            ("Records", [
                "The kids' red books (vaccination records) are in the study filing cabinet, second drawer. "
                "Blood groups: Tom O positive, Priya A negative. Isla had her flu spray on 9 October 2024.",
                "The opticians are Lens & Co in the high street; Isla's next eye test is in January.",
            ]),
        ],
    ),
    "dev/docs/garden.pdf": (
        "Garden and shed",
        [
            ("Shed", [
                "The shed padlock is a combination lock: 0-6-2-8. Inside: lawnmower, strimmer, the kids' bikes "
                "and the barbecue. The barbecue gas bottle (Patio Gas 5 kg) is swapped at the garden centre, "
                "never stored inside the house.",
            ]),
            ("Lawn", [
                "The mower is a Verdant 42V cordless; it has two batteries, charged in the utility room, "
                "each good for about 35 minutes. Cut height 4 in summer, 5 in spring and autumn. "
                "We mow on Saturday mornings after 10, never on Sundays. Lawn feed goes on in April and September.",
            ]),
            ("Greenhouse and watering", [
                "Tomatoes in the greenhouse are fed every Sunday with Tomorite, 20 ml in a full watering can. "
                "Open both greenhouse vents when it is over 20 degrees. The water butt by the shed holds 200 litres; "
                "use it first, the hose second. The hosepipe reel is on the side wall by the outside tap.",
            ]),
            ("Help", [
                "Pete Marlow cuts the hedges twice a year, late May and late August, £120 each time, "
                "and takes the cuttings away. His number is in the contacts page. "
                "The apple tree is pruned in February.",
            ]),
        ],
    ),
    "holdout/docs/vehicles.pdf": (
        "VEHICLES",
        [
            ("Subaru Outback (2019, green) - mostly Ines", [
                "Plate: 416 JKM (Oregon). Tire pressure 35 psi front / 33 psi rear, cold. Oil: 0W-20 synthetic, "
                "change every 6,000 mi or 6 months. Registration renews every 2 yrs in October (next Oct 2026). "
                "Snow chains + ice scraper in the trunk under the floor panel.",
            ]),
            ("Honda CB500X motorcycle - Callum", [
                "Plate: 7GH 204. Tires: 36 psi front, 42 psi rear. Oil 10W-30. Chain lube every approx. 500 mi "
                "(spray can on the shelf in the storage cage). Winter: battery tender plugged in at the cage, "
                "parked in space #41 next to the car.",
            ]),
            ("Who fixes them", [
                "Delmar Auto Care on 9th St (ask for Yolanda), (503) 555-0129. The bike goes to Ridgeline Moto, "
                "(503) 555-0132, NOT Delmar. Subaru's next service is due at 48,000 mi.",
            ]),
            ("Insurance / roadside", [
                "Both on Cascade Mutual, policy CM-20-448817. Roadside assistance (tow, flat, lockout): "
                "1-800-555-0175, membership 4410 2287 06. Insurance cards are in each glovebox / under the bike seat.",
                "Parking: space #41 on P1 is ours; guests park on the street (2 hr limit 8a-6p).",
            ]),
        ],
    ),
    "holdout/docs/papa_health.pdf": (
        "Papa (Joaquim Ferreira, 78) - health info",
        [
            ("Doctors", [
                "Primary care: Dr. Samuel Ode, Whitlow Family Medicine, (503) 555-0137. "
                "Cardiologist: Dr. Beatrix Hallam, Heart Institute of Port Harrow, (503) 555-0133, every 4 months "
                "(next: June 12, 10:15 am). INR blood test every 2 wks at the anticoagulation clinic, Tuesdays.",
            ]),
            ("Medications (pill organizer on the kitchen counter, filled Sundays)", [
                "Metoprolol 25 mg twice a day (8 am and 8 pm). Atorvastatin 40 mg at bedtime. "
                "Warfarin: 3 mg on Mon, Wed, Fri; 2 mg all other days, at 5 pm. "
                "Eye drops (latanoprost) one drop each eye at night.",
                "Pharmacy: CareWell Pharmacy on 5th Ave, (503) 555-0150, refills auto-ship around the 20th.",
            ]),
            ("Important", [
                "ALLERGIC TO SULFA DRUGS (hives, swelling). Also no grapefruit with his meds. "
                "Hearing aids: Phonak, batteries size 312, the spare pack is in his nightstand. "
                "He walks with a cane outside; the walker is for the apartment at night.",
                "Insurance cards (Medicare + supplement) are in his wallet; copies in the fire safe.",
            ]),
            ("Rest of us", [
                "Family doctor for Ines, Callum and Theo: Dr. Grace Lin at Northgate Clinic, (503) 555-0148. "
                "Callum is allergic to bee stings (EpiPen in his backpack).",
            ]),
        ],
    ),
    "holdout/docs/money.pdf": (
        "Money stuff - bills & accounts",
        [
            ("", [
                "HOA dues: $412 a month, due on the 1st, autopay from joint checking. HOA covers water, sewer, trash "
                "and the building insurance.",
                "Condo (HO-6) insurance: Harborline Insurance, policy HL-55-0921, deductible $1,000. Renews every "
                "March 15. Agent Tom Becker, (503) 555-0115.",
                "Electric: Port Harrow Public Power, account 7781-0442, budget billing $96 a month on the 18th.",
                "Property tax: paid in two halves, Nov 15 and May 15 (about $2,350 each).",
                "Cell phones: family plan with Brightline Mobile, $140 a month, 4 lines (Papa's included).",
                "Storage: none extra - we only use the building cage (#14).",
                "Tax docs go in the accordion folder, office file cabinet top drawer. Our accountant is Priya Shah, "
                "(503) 555-0124, taxes filed by April 15.",
            ]),
        ],
    ),
    "fresh/docs/machinery.pdf": (
        "Vehicles and machinery - Ballyvane",
        [
            ("Declan's jeep", [
                "Mitsubishi Pajero, 2014, registration 141-G-2290. Diesel. Tyre pressures 2.4 bar front and rear, "
                "2.8 bar on the rear when towing the trailer. The NCT is due every two years, next in October 2026.",
            ]),
            ("Niamh's car", [
                "White Kia Niro EV, registration 231-G-7725. Charged on the wall charger by the back door, "
                "overnight on the night rate (11 pm to 8 am). Tyre pressures 2.5 bar front, 2.3 bar rear.",
            ]),
            ("Tractor and quad", [
                "Massey Ferguson 135 tractor: only Declan drives it. Engine oil 15W-40, grease the front axle "
                "every 50 hours. The quad (Honda TRX) is for the hill fields; helmets hang in the barn.",
                "The log splitter and the chainsaw are locked in the workshop; the padlock code is 3-1-9-0.",
            ]),
            ("Insurance and tax", [
                "Both cars are insured with FBD, policy number FB-208-33671, renewing every 1 May. The jeep's motor "
                "tax is 280 euro a year; the Kia's is 120 euro. Breakdown cover with the AA, 1800 66 77 88.",
                "Local mechanic: Tommy Naughton, Moycullen, 091 555 973 (he also does the trailer lights).",
            ]),
        ],
    ),
    "fresh/docs/contacts_and_money.pdf": (
        "Contacts and money",
        [
            ("Neighbours and helpers", [
                "The Walshes next door (Brian and Úna), 087 330 4418, have a spare key to the farmhouse. "
                "Seán the relief milker is not ours any more - we sold the cows in 2021.",
                "Vet for the dog (Bran, a collie) and the hens: Corrib Vets, Moycullen, 091 556 200. "
                "Bran's worm tablet is every 3 months; he eats two scoops of dry food, morning and evening.",
                "The electrician is Ger Furey, 086 410 2287. The plumber is Jimmy Lydon, 087 905 1164.",
            ]),
            ("Bills", [
                "Electricity: Energia, account 8830-1127, paid by direct debit every two months. "
                "Broadband: Starlink, 75 euro a month, on Niamh's credit card.",
                "Household insurance: Allianz, policy HH-55190, excess 350 euro, renews in January. "
                "The local property tax is 405 euro a year, paid in one go in November.",
                "Declan's farm accountant is Maura Concannon, 091 563 004; farm accounts are due in June.",
            ]),
        ],
    ),
}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def page_streams(title: str, sections: list[Section]) -> list[bytes]:
    """Content streams, one per page: title in bold 16 pt, headings bold 12 pt, text 11 pt wrapped at 88."""
    lines: list[tuple[str, str]] = [("/F2 16 Tf", title), ("", "")]
    for heading, paragraphs in sections:
        if heading:
            lines.append(("/F2 12 Tf", heading))
        for paragraph in paragraphs:
            lines += [("/F1 11 Tf", line) for line in textwrap.wrap(paragraph, 88)]
            lines.append(("", ""))
    pages, per_page = [], 48
    for start in range(0, len(lines), per_page):
        ops = ["BT", "72 750 Td", "14 TL"]
        for font, text in lines[start : start + per_page]:
            if font:
                ops.append(font)
            ops.append(f"({_escape(text)}) Tj T*" if text else "T*")
        ops.append("ET")
        pages.append("\n".join(ops).encode("latin-1"))
    return pages


def build(title: str, sections: list[Section]) -> bytes:
    streams = page_streams(title, sections)
    # objects: 1 catalog, 2 pages, 3 regular font, 4 bold font, 5 info, then (page, contents) pairs
    first_page = 6
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(streams)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(streams)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title).encode("latin-1") + b") /Producer (xnai bench/data/answers/make_pdfs.py) >>",
    ]
    for i, stream in enumerate(streams):
        contents = first_page + 2 * i + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {contents} 0 R "
            "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return pdf_file(objects, info=5)


def pdf_file(objects: list[bytes], info: int) -> bytes:
    """A PDF of these objects, numbered from 1 with the catalog first and object `info` the document info, and the
    cross-reference table (byte offsets) a reader needs to find them. Also writes the tests' PDF (tests/data)."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


if __name__ == "__main__":
    for name, (title, sections) in DOCUMENTS.items():
        target = HERE / name
        target.write_bytes(build(title, sections))
        print(f"wrote {target}")
