"""Static word lists used to synthesise realistic customers.

Kept apart from the generator so that ``data.py`` stays readable. Everything
here is plain data: names, email domains, countries with a realistic skew and
the dictionaries of Dub's "Adjective Colour Animal" random names.
"""

from __future__ import annotations

# fmt: off

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
    "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
    "Thomas", "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy",
    "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley",
    "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah",
    "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura", "Edward", "Sharon",
    "Jeffrey", "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary", "Angela",
    "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela",
    "Larry", "Emma", "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha",
    "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel",
    "Frank", "Carolyn", "Patrick", "Janet", "Raymond", "Catherine", "Jack", "Maria",
    "Dennis", "Heather", "Jerry", "Diane", "Tyler", "Ruth", "Aaron", "Julie",
    "Lukas", "Sofia", "Mateo", "Lea", "Hiroshi", "Yuki", "Arjun", "Priya",
    "Rahul", "Ananya", "Wei", "Mei", "Lucas", "Camille", "Pedro", "Ines",
    "Noah", "Olivia", "Liam", "Mia", "Elias", "Hannah", "Oliver", "Chloe",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
    "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker",
    "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Moreau", "Laurent",
    "Rossi", "Russo", "Ferrari", "Tanaka", "Suzuki", "Sato", "Patel", "Sharma",
    "Singh", "Kumar", "Chen", "Wang", "Li", "Zhang", "Silva", "Santos",
    "Oliveira", "Costa", "Jansen", "DeVries", "Nowak", "Kowalski", "OBrien", "Murray",
)

# (domain, weight): free mail dominates, then a long tail of company domains.
EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 40), ("yahoo.com", 8), ("outlook.com", 7), ("hotmail.com", 6),
    ("icloud.com", 6), ("proton.me", 3), ("gmx.de", 2), ("web.de", 2),
    ("acme.io", 3), ("example.com", 2), ("globex.com", 3), ("initech.co", 2),
    ("umbrella.dev", 2), ("hooli.xyz", 2), ("stark.industries", 1), ("wayne.co", 2),
    ("piedpiper.net", 2), ("soylent.org", 1), ("cyberdyne.ai", 2), ("vandelay.biz", 2),
)

# (ISO 3166 alpha-2, weight): a SaaS-like skew towards the US and Europe.
COUNTRIES: tuple[tuple[str, int], ...] = (
    ("US", 380), ("GB", 80), ("DE", 70), ("IN", 60), ("CA", 50), ("FR", 45),
    ("BR", 40), ("AU", 35), ("NL", 30), ("ES", 25), ("IT", 20), ("JP", 20),
    ("SE", 15), ("MX", 15), ("PL", 12), ("CH", 10), ("SG", 10), ("IE", 10),
    ("BE", 8), ("AT", 8), ("DK", 7), ("NO", 7), ("FI", 6), ("PT", 6),
    ("NZ", 5), ("ZA", 5), ("AR", 5), ("IL", 5), ("KR", 5), ("AE", 4),
    ("NG", 3), ("PH", 3), ("ID", 3), ("TR", 3), ("CZ", 3), ("RO", 3),
)

ADJECTIVES: tuple[str, ...] = (
    "Able", "Brave", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager",
    "Fancy", "Fierce", "Gentle", "Giant", "Happy", "Honest", "Hungry", "Jolly",
    "Kind", "Lively", "Lucky", "Mighty", "Modest", "Noble", "Polite", "Proud",
    "Quick", "Quiet", "Rapid", "Silly", "Sleepy", "Smooth", "Swift", "Tender",
    "Tiny", "Vast", "Wise", "Witty", "Zealous", "Zany", "Bold", "Bright",
    "Cheerful", "Dizzy", "Fluffy", "Grumpy", "Handsome", "Icy", "Jumpy", "Loud",
)

COLOURS: tuple[str, ...] = (
    "Amaranth", "Amber", "Aqua", "Azure", "Beige", "Black", "Blue", "Bronze",
    "Brown", "Chocolate", "Coffee", "Copper", "Coral", "Crimson", "Cyan", "Gold",
    "Gray", "Green", "Indigo", "Ivory", "Jade", "Lavender", "Lime", "Magenta",
    "Maroon", "Olive", "Orange", "Pink", "Plum", "Purple", "Red", "Salmon",
    "Silver", "Tan", "Teal", "Turquoise", "Violet", "White", "Yellow",
)

ANIMALS: tuple[str, ...] = (
    "Aardvark", "Albatross", "Alligator", "Antelope", "Badger", "Bat", "Bear", "Beaver",
    "Bison", "Buffalo", "Camel", "Cat", "Cheetah", "Chicken", "Cobra", "Coyote",
    "Crab", "Crane", "Crow", "Deer", "Dolphin", "Dove", "Eagle", "Eel",
    "Elephant", "Falcon", "Ferret", "Flamingo", "Fox", "Frog", "Gazelle", "Giraffe",
    "Goat", "Gorilla", "Hamster", "Hawk", "Hedgehog", "Heron", "Hippo", "Horse",
    "Hyena", "Jaguar", "Kangaroo", "Koala", "Lemur", "Leopard", "Lion", "Llama",
    "Lobster", "Lynx", "Mole", "Moose", "Narwhal", "Otter", "Owl", "Panda",
    "Panther", "Parrot", "Pelican", "Penguin", "Rabbit", "Raccoon", "Shark", "Sloth",
    "Swan", "Tiger", "Turtle", "Walrus", "Whale", "Wolf", "Wombat", "Zebra",
)
# fmt: on
