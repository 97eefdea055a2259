"""Rich wording for the sculpt captions (recipe key ``wording: "rich"``): many ways to say each attribute.

The plain captioner (``captions.py``) words an attribute with the two to five phrases of its library entry
("long face", "slightly wide nose"). A reader trained on those learns those phrases; prompts worded any other
way are read poorly. This module describes every attribute the way its measurement is defined, with generic
English lexicons, so that the reader sees each attribute said in many ways:

* **adjective + noun** from generic lexicons by the kind of measurement (length, width, size, depth,
  height, spacing, thickness, contour) crossed with the nouns of the measured part ("an elongated visage",
  "a hefty jaw"), with intensifiers by level and comparatives ("a far broader nose");
* **predicative / relative clauses** ("the nose is very wide", "a jaw that is a bit narrow");
* **relations derived from the measurement** (which landmarks it reads and along which axis): distances
  between two parts ("a big gap between the lower lip and the chin tip", "eyes sitting far from each
  other"), depth ("a nose that juts out"), position ("eyebrows sitting high above the eyes");
* expressions by the action of their blendshapes ("mouth corners turned up") and by the emotion whose FACS
  prototype features them (happiness -> lip-corner puller = smiling, anger -> brow lowerer = furrowed brows,
  disgust -> nose wrinkler = sneering, ...); negations ("no smile", "without a frown");
* appearance by lexicons of skin and hair colour words and hair nouns.

Every template is chosen by the caption's intensity level (0 = slightly, 1 = plain, 2 = very/much), so reader
targets and heads are exactly those of the plain wording. Written from the attributes' definitions, after
(and by the author of) the held-out paraphrases of ``evaluate.py``, with words that only echoed them taken
out; captions that would contain one of them (content words in sequence) are not produced
(``captions.make_dataset`` re-draws them), and ``bench/sculpt.py`` reports the n-gram overlap.
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------
# intensity words by level (0 slightly, 1 plain, 2 much)
DEG = (("slightly", "a bit", "somewhat", "a little", "mildly", "a touch", "fairly", "moderately"),
       ("", "", "", "noticeably", "clearly", "quite"),
       ("very", "extremely", "really", "exceptionally", "remarkably", "incredibly", "unusually", "strikingly",
        "extraordinarily", "super", "seriously", "enormously"))
COMP = (("slightly", "a bit", "a little", "somewhat", "marginally", "a tad"),
        ("", "", "noticeably"),
        ("much", "a lot", "far", "way", "considerably", "significantly", "dramatically", "vastly"))

#: generic adjective lexicons: (positive form, comparative or None -> "more X")
LEX = {
    "long": ("long", "elongated", "lengthy", "drawn-out", "extended", "tall"),
    "short": ("short", "stubby", "compact", "squashed", "shortened", "truncated"),
    "wide": ("wide", "broad", "spread-out", "full-width"),
    "narrow": ("narrow", "thin", "slim", "slender", "lean"),
    "big": ("big", "large", "huge", "giant", "massive", "oversized", "sizeable", "hefty", "ample", "generous"),
    "small": ("small", "little", "tiny", "petite", "minute", "diminutive", "undersized", "miniature"),
    "out": ("protruding", "projecting", "prominent", "jutting", "pronounced", "forward", "strong",
            "sticking-out"),
    "in": ("receding", "retreating", "flat", "recessed", "sloping", "weak", "set-back", "shallow"),
    "high": ("high", "high-set", "raised", "lifted", "elevated"),
    "low": ("low", "low-set", "lowered", "hooded", "sunken"),
    "thick": ("full", "thick", "plump", "fleshy", "puffy", "juicy", "bee-stung"),
    "thin": ("thin", "slim", "fine", "narrow", "tight", "meagre"),
    "round": ("round", "rounded", "curved", "soft", "circular", "curvy", "smooth", "chubby"),
    "angular": ("angular", "square", "chiseled", "chiselled", "sharp", "squared-off", "boxy", "defined",
                "blocky"),
}
IRREGULAR = {"big": "bigger", "large": "larger", "huge": "huger", "long": "longer", "short": "shorter",
             "wide": "wider", "broad": "broader", "narrow": "narrower", "thin": "thinner", "slim": "slimmer",
             "small": "smaller", "tiny": "tinier", "little": "littler", "tall": "taller", "high": "higher",
             "low": "lower", "flat": "flatter", "full": "fuller", "thick": "thicker", "plump": "plumper",
             "round": "rounder", "square": "squarer", "sharp": "sharper", "soft": "softer", "weak": "weaker",
             "strong": "stronger", "fine": "finer", "tight": "tighter", "heavy": "heavier", "puffy": "puffier",
             "skinny": "skinnier", "fleshy": "fleshier", "chubby": "chubbier", "stubby": "stubbier",
             "light": "lighter", "dark": "darker", "pale": "paler", "fair": "fairer", "deep": "deeper"}


def comparative_of(adj: str) -> str:
    """"long" -> "longer", "elongated" -> "more elongated"."""
    return IRREGULAR.get(adj, f"more {adj}")


# ---------------------------------------------------------------------------------------------------------
# shape attributes: nouns of the measured part, adjective lexicons for each direction, and relation templates
# derived from the measurement. Templates: {d} = a DEG word of the level, {c} = a COMP word (comparative
# sentence), {q} = a quantity of the level (QTY), {adj} = adjective of the direction's lexicon, {Adj}: the
# same with its article. A template without a slot is used at the plain level only.
QTY = {1: (("a bit more", "slightly more", "a little extra", "some extra"),
           ("a lot of", "plenty of", "lots of", "a good deal of"),
           ("a huge amount of", "loads of", "an enormous amount of", "tons of")),
       -1: (("a bit less", "slightly less", "a little less"),
            ("little", "not much", "hardly any"),
            ("almost no", "barely any", "practically no", "next to no"))}
FAR = (("a bit far", "somewhat far", "a little far"), ("far", "well", "widely"),
       ("very far", "extremely far", "really far", "very widely"))
NEAR = (("a bit close", "somewhat close", "a little close"), ("close", "near"),
        ("very close", "extremely close", "really close", "right up close"))

SHAPE_LEX: dict[str, dict] = {
    # distance from the top of the forehead to the bottom of the chin
    "face length": {
        "nouns": ("face", "face shape", "head shape"), "more": "long", "less": "short",
        1: ("a face {d} long from forehead to chin", "{q} length from the top of the forehead to the chin",
            "a face that runs {d} long top to bottom", "a {c} longer distance from hairline to chin",
            "a face {d} longer than it is wide", "long-faced"),
        -1: ("a face {d} short from forehead to chin", "{q} length from the top of the forehead to the chin",
             "a face that is {d} short top to bottom", "a {c} shorter distance from hairline to chin",
             "a face {d} wider than it is long", "short-faced"),
    },
    # distance between the sides of the face (cheek contour at ear level)
    "face width": {
        "nouns": ("face", "face shape"), "more": "wide", "less": "narrow",
        1: ("a face {d} wide from side to side", "a face {d} wide at ear level", "a {c} wider face shape",
            "{q} width across the face", "wide-faced", "a face that is {d} broad across"),
        -1: ("a face {d} narrow from side to side", "a face {d} narrow at ear level",
             "a {c} narrower face shape", "{q} width across the face", "narrow-faced",
             "a face that is {d} thin across"),
    },
    # distance between the jaw angles
    "jaw width": {
        "nouns": ("jaw", "jawline", "lower jaw", "jaw line", "mandible"), "more": "wide", "less": "narrow",
        "extra_more": ("heavy", "strong", "powerful", "solid", "big", "wide-angled", "thick"),
        "extra_less": ("light", "fine", "small", "v-shaped"),
        1: ("jaw angles set {d} far apart", "a jaw {d} wide at the angles", "a {c} wider lower face",
            "{q} width at the jaw", "a jaw that is {d} wide at the back", "broad-jawed",
            "a lower face {d} wide at the jaw"),
        -1: ("jaw angles set {d} close together", "a jaw {d} narrow at the angles", "a {c} narrower lower face",
             "{q} width at the jaw", "a jaw that is {d} narrow at the back", "narrow-jawed",
             "a lower face {d} narrow at the jaw", "a jaw tapering {d} to the chin"),
    },
    # vertical distance from the lower lip to the bottom of the chin
    "chin length": {
        "nouns": ("chin",), "more": "long", "less": "short",
        1: ("a chin that is {d} long below the lip", "{q} distance between the lower lip and the bottom of the chin",
            "a {c} longer stretch from the lower lip to the chin", "the chin reaching {d} far down",
            "a chin extending {d} low", "a tall lower chin", "a long lower face below the mouth"),
        -1: ("a chin that is {d} short below the lip", "{q} distance between the lower lip and the bottom of the chin",
             "a {c} shorter stretch from the lower lip to the chin", "the chin ending {d} soon below the lip",
             "a short lower face below the mouth", "a chin {d} close under the lower lip"),
    },
    # how far the chin front sits ahead of the mouth corners
    "chin projection": {
        "nouns": ("chin",), "more": "out", "less": "in",
        1: ("a chin that {d} juts out", "a chin that sticks out {d} far", "a chin {d} forward of the mouth",
            "a chin projecting {d} far forward", "a {c} more forward chin", "a chin that pushes out in front",
            "a strong forward chin", "a chin {d} ahead of the lips"),
        -1: ("a chin that {d} recedes", "a chin set {d} far back", "a chin {d} behind the mouth",
             "a chin sloping {d} backward", "a {c} more set-back chin", "a chin that falls away backward",
             "chinless"),
    },
    # distance between the cheekbones
    "cheekbone width": {
        "nouns": ("cheekbones", "cheek bones", "upper cheeks"), "more": "wide", "less": "narrow",
        "extra_more": ("high", "prominent", "strong", "pronounced", "sculpted", "defined"),
        "extra_less": ("flat", "soft", "weak", "understated"),
        1: ("cheekbones {d} far apart", "cheekbones spread {d} wide", "{q} width across the cheekbones",
            "cheekbones that are {d} wide", "{c} wider cheekbones"),
        -1: ("cheekbones {d} close together", "cheekbones set {d} narrow", "{q} width across the cheekbones",
             "cheekbones that are {d} narrow", "{c} narrower cheekbones"),
    },
    # vertical distance from the nose bridge (between the eyes) to the base of the nose
    "nose length": {
        "nouns": ("nose", "nose bridge", "nasal bridge", "snout", "schnoz"), "more": "long", "less": "short",
        1: ("a nose that runs {d} long from bridge to tip", "a nose reaching {d} far toward the mouth",
            "{q} length from the top of the nose to its base", "a {c} longer nose",
            "a nose that is {d} long", "long-nosed"),
        -1: ("a nose that is {d} short from bridge to tip", "a nose ending {d} high above the mouth",
             "{q} length from the top of the nose to its base", "a {c} shorter nose",
             "a nose that is {d} short", "short-nosed"),
    },
    # distance between the nostril wings
    "nose width": {
        "nouns": ("nose", "nostrils", "nose base", "nasal base"), "more": "wide", "less": "narrow",
        "extra_more": ("flat and wide", "bulbous", "spread"),
        "extra_less": ("fine", "aquiline", "sharp", "pointy"),
        1: ("nostril wings set {d} far apart", "a nose {d} wide at the base", "{q} width across the nostrils",
            "a nose that is {d} wide", "a {c} wider nose", "broad-nosed"),
        -1: ("nostril wings set {d} close together", "a nose {d} narrow at the base",
             "{q} width across the nostrils", "nostrils that are {d} narrow", "a nose that is {d} narrow",
             "a {c} narrower nose", "narrow-nosed"),
    },
    # how far the nose tip sits ahead of the nostril wings
    "nose projection": {
        "nouns": ("nose", "nose tip", "nasal tip"), "more": "out", "less": "in",
        "extra_more": ("big", "large", "hooked", "roman", "long pointed"),
        "extra_less": ("flat", "small", "snub", "pug", "low"),
        1: ("a nose that {d} sticks out", "a nose tip {d} far forward", "a nose projecting {d} far from the face",
            "a nose that juts out {d} far", "a {c} more prominent nose", "a nose standing {d} far out from the cheeks"),
        -1: ("a nose tip {d} close to the face", "a nose sitting {d} flat on the face",
             "a {c} flatter nose", "a nose pressed {d} flat against the face"),
    },
    # eye opening: corner-to-corner width times lid-to-lid height
    "eye size": {
        "nouns": ("eyes", "eye openings", "eyeballs", "peepers"), "more": "big", "less": "small",
        "extra_more": ("round", "open", "wide-open", "saucer-like", "anime-style"),
        "extra_less": ("narrow", "slit-like", "squinty", "pin-like"),
        1: ("eyes that are {d} big", "{q} opening between the eyelids", "eyes {d} large and open",
            "{c} bigger eyes", "eyes {d} wide from corner to corner", "big-eyed"),
        -1: ("eyes that are {d} small", "{q} opening between the eyelids", "eyes {d} small and narrow",
             "{c} smaller eyes", "eyes {d} short from corner to corner", "small-eyed"),
    },
    # distance between the inner eye corners
    "eye spacing": {
        "nouns": ("eyes",), "more": None, "less": None,
        1: ("eyes set {f} apart", "eyes spaced {f} apart", "a {d} wide gap between the eyes",
            "{q} space between the inner eye corners", "eyes {f} away from each other",
            "a {d} wide nose bridge between the eyes", "{c} more widely set eyes", "wide-spaced eyes",
            "eyes placed {f} apart on the face", "a {c} bigger distance between the eyes"),
        -1: ("eyes set {n} together", "eyes spaced {n} together", "a {d} narrow gap between the eyes",
             "{q} space between the inner eye corners", "eyes {n} to each other",
             "a {d} narrow nose bridge between the eyes", "{c} more closely set eyes", "close-spaced eyes",
             "eyes placed {n} together on the face", "a {c} smaller distance between the eyes"),
    },
    # distance between the mouth corners
    "mouth width": {
        "nouns": ("mouth", "lips", "mouth line"), "more": "wide", "less": "narrow",
        "extra_more": ("big", "large", "generous"), "extra_less": ("small", "little", "tiny", "petite", "rosebud"),
        1: ("a mouth {d} wide from corner to corner", "mouth corners set {f} apart", "{q} width across the mouth",
            "a mouth that is {d} wide", "a {c} wider mouth", "wide-mouthed", "a mouth reaching {d} far to the sides"),
        -1: ("a mouth {d} narrow from corner to corner", "mouth corners set {n} together",
             "{q} width across the mouth", "a mouth that is {d} narrow", "a {c} narrower mouth",
             "small-mouthed", "a mouth that is {d} small"),
    },
    # height of the red of the upper and the lower lip
    "lip fullness": {
        "nouns": ("lips", "upper and lower lips", "mouth"), "more": "thick", "less": "thin",
        1: ("lips that are {d} full", "{q} height of the red of the lips", "{c} fuller lips",
            "lips {d} thick from top to bottom", "full-lipped", "a {d} full upper and lower lip"),
        -1: ("lips that are {d} thin", "{q} height of the red of the lips", "{c} thinner lips",
             "lips {d} thin from top to bottom", "thin-lipped", "a {d} thin upper and lower lip", "barely visible lips"),
    },
    # vertical distance from the eyebrows to the upper eyelids
    "brow height": {
        "nouns": ("eyebrows", "brows", "brow line"), "more": "high", "less": "low",
        1: ("eyebrows {d} high above the eyes", "{q} room between the eyebrows and the upper lids",
            "eyebrows {f} above the upper eyelids", "{c} higher eyebrows", "brows set {d} high on the forehead",
            "a {d} tall gap from brow to eyelid", "eyebrows placed high"),
        -1: ("eyebrows {d} low over the eyes", "{q} room between the eyebrows and the upper lids",
             "eyebrows {n} to the upper eyelids", "{c} lower eyebrows", "brows set {d} low on the forehead",
             "a {d} short gap from brow to eyelid", "brows that shade the eyes"),
    },
    # vertical distance from the top of the forehead (hairline) to the point between the brows
    "forehead height": {
        "nouns": ("forehead", "brow area", "forehead area"), "more": "high", "less": "low",
        "extra_more": ("tall", "big", "large", "broad", "prominent"), "extra_less": ("short", "small", "narrow", "little"),
        1: ("a forehead that is {d} high", "a hairline {d} far above the eyebrows", "{q} height of forehead",
            "a {c} taller forehead", "a hairline set {d} high", "a forehead that goes up {d} far", "high-browed"),
        -1: ("a forehead that is {d} low", "a hairline {d} low above the eyebrows", "{q} height of forehead",
             "a {c} shorter forehead", "a hairline set {d} low", "low-browed"),
    },
    # overall size (RMS radius of the face points)
    "head size": {
        "nouns": ("head", "skull", "cranium", "noggin", "face and head"), "more": "big", "less": "small",
        1: ("a head that is {d} big", "a {c} bigger head", "a {d} large skull", "a head of {d} large size",
            "everything about the head {d} scaled up", "big-headed", "a head {d} larger than average"),
        -1: ("a head that is {d} small", "a {c} smaller head", "a {d} small skull", "a head of {d} small size",
             "everything about the head {d} scaled down", "small-headed", "a head {d} smaller than average"),
    },
    # bulge of the jaw contour between the jaw angle and the chin
    "roundness": {
        "nouns": ("face", "jaw", "jawline", "face shape", "jaw line", "chin and jaw"), "more": "round",
        "less": "angular",
        1: ("a jawline that curves {d} softly", "a face with {d} soft curves", "a {c} rounder face",
            "a jaw contour that is {d} rounded", "a face shaped like a circle", "round-faced", "baby-faced"),
        -1: ("a jawline with {d} sharp angles", "a face with {d} hard lines", "a {c} more angular face",
             "a jaw contour that is {d} straight and angular", "a face shaped like a square", "square-jawed",
             "rugged and chiselled"),
    },
}

# ---------------------------------------------------------------------------------------------------------
# expressions (everyday groups): phrases by action of the blendshapes and by emotion (FACS prototypes)
#: intensity words for expressions by level
EXPR_DEG = (("slightly", "a little", "faintly", "lightly", "barely", "subtly", "a bit"),
            ("", "", "", "clearly"),
            ("broadly", "very", "strongly", "fully", "intensely", "hugely", "really", "wildly"))
#: the same after the verb ("smiling broadly", "eyes shut tight")
EXPR_DEG_POST = (("slightly", "a little", "a bit", "faintly", "lightly", "subtly"),
                 ("", "", "clearly"),
                 ("broadly", "strongly", "fully", "a lot", "intensely", "hard", "hugely"))
EXPR_LEX: dict[str, dict] = {
    "smiling": {"more": ("smiling {d}", "{d} smiling", "a {d} big smile", "grinning {d}", "a grin", "smiley",
                         "with a smile", "mouth corners turned up", "corners of the mouth pulled up", "happy",
                         "{d} happy", "joyful", "laughing", "cheerful", "{d} amused", "a happy face",
                         "a {d} wide smile", "a toothy smile", "pleased"),
                "less": ("no smile", "without a smile", "unsmiling", "not grinning", "a straight face")},
    "frowning": {"more": ("frowning {d}", "a {d} deep frown", "mouth corners turned down", "corners of the mouth pulled down",
                          "sad", "{d} sad", "unhappy", "gloomy", "miserable", "a downturned mouth",
                          "disappointed", "a sad face", "upset"),
                 "less": ("no frown", "without a frown", "not sad", "not frowning at all")},
    "mouth open": {"more": ("mouth {d} open", "an open mouth", "jaw {d} dropped", "lips apart", "jaw dropped open",
                            "mouth wide open", "mouth opened {d}", "open-mouthed", "yawning", "shouting",
                            "with the mouth open", "jaw {d} lowered"),
                   "less": ("mouth shut", "lips together", "with the mouth closed", "jaw closed", "closed lips")},
    "raised eyebrows": {"more": ("eyebrows {d} raised", "brows raised {d}", "surprised", "{d} surprised",
                                 "amazed", "shocked", "eyebrows up", "brows pulled up",
                                 "a surprised face", "curious", "raising the eyebrows"),
                        "less": ("brows at rest", "relaxed eyebrows", "eyebrows down", "not surprised")},
    "furrowed brows": {"more": ("brows {d} furrowed", "eyebrows drawn down", "angry", "{d} angry", "scowl",
                                "a scowl", "furious", "mad", "annoyed", "stern", "brows pulled together",
                                "an angry face", "frowning brows", "a furrowed forehead", "irritated"),
                       "less": ("smooth brow", "relaxed brows", "not angry", "calm brows")},
    "eyes closed": {"more": ("eyes {d} closed", "eyes shut {d}", "sleeping", "sleepy", "dozing", "eyelids closed",
                             "with closed eyes", "napping", "drowsy", "eyelids lowered", "blinking hard"),
                    "less": ("eyes open", "awake", "open eyes", "eyes not closed")},
    "squinting": {"more": ("squinting {d}", "eyes {d} narrowed", "a squint", "suspicious", "{d} suspicious",
                           "eyes squeezed", "skeptical", "eyelids tightened", "distrustful"),
                  "less": ("no squint", "relaxed eyes", "not narrowing the eyes")},
    "wide eyes": {"more": ("eyes {d} wide open", "eyes opened wide", "staring", "wide-eyed", "frightened",
                           "scared", "terrified", "{d} scared", "eyes bulging", "afraid", "alarmed"),
                  "less": ()},
    "puckered lips": {"more": ("lips {d} puckered", "a pout", "pouting {d}", "puckering up",
                               "lips pursed forward", "pursed lips", "lips rounded forward", "making a kissy face",
                               "lips pushed forward"),
                      "less": ()},
    "puffed cheeks": {"more": ("cheeks {d} puffed", "cheeks puffed out", "inflated cheeks", 
                               "puffing the cheeks", "bulging cheeks"),
                      "less": ()},
    "sneering": {"more": ("sneering {d}", "a sneer", "nose {d} wrinkled", "disgusted", "{d} disgusted",
                          "revolted", "grossed out", "upper lip raised", "contemptuous",
                          "nose crinkled", "repulsed"),
                 "less": ()},
    "jaw forward": {"more": ("jaw {d} pushed forward", "jaw thrust forward", "lower jaw moved forward",
                             "jaw sticking out", "an underbite", "jaw moved forward"),
                    "less": ()},
    "lips pressed": {"more": ("lips pressed {d}", "lips pressed tightly", "mouth pressed shut", "pursed tight lips",
                              "lips held tight", "a tight mouth", "lips compressed", "determined look",
                              "holding the lips together hard"),
                     "less": ()},
    "mouth stretched": {"more": ("mouth {d} stretched", "a grimace", "grimacing {d}", "mouth pulled sideways",
                                 "a strained mouth", "a pained look",
                                 "teeth clenched in a grimace", "mouth stretched back"),
                        "less": ()},
}

# ---------------------------------------------------------------------------------------------------------
# appearance
SKIN_NOUNS = ("skin", "complexion", "skin tone", "skin colour", "skin color")
HAIR_NOUNS = ("hair", "hair colour", "hair color", "curls", "hairdo", "hairstyle")
#: overall lightness: nouns that cannot be read as the skin's or the hair's alone
OVERALL_NOUNS = ("colouring", "overall colouring", "overall look", "colour scheme", "overall tones",
                 "overall appearance")
APPEARANCE_LEX: dict[str, dict] = {
    "skin lightness": {"more": ("light", "pale", "fair", "pallid", "milky", "creamy", "pinkish", "light-toned"),
                       "less": ("dark", "tanned", "brown", "bronzed", "deep", "dusky", "olive", "sun-tanned",
                                "mahogany", "dark-toned"),
                       "nouns": SKIN_NOUNS,
                       "extra_more": ("pale-skinned", "light-skinned", "a pale face", "a fair face",
                                      "very little tan"),
                       "extra_less": ("dark-skinned", "brown-skinned", "a deep tan", "a dark face", "a suntan")},
    "hair lightness": {"more": ("light", "pale", "fair", "light-coloured", "bright"),
                       "less": ("dark", "deep", "dark-coloured", "dusky"),
                       "nouns": HAIR_NOUNS,
                       "extra_more": ("fair-haired", "light-haired"), "extra_less": ("dark-haired",)},
    "lightness": {"more": ("light", "pale", "bright", "fair", "washed-out", "luminous"),
                  "less": ("dark", "deep", "dim", "dusky", "muted"),
                  "nouns": OVERALL_NOUNS,
                  "extra_more": ("lighter all round", "brighter colours", "a lighter look overall"),
                  "extra_less": ("darker all round", "deeper colours", "a darker look overall")},
}
HAIR_COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "blond hair": ("blond", "blonde", "golden", "honey-blond", "sandy", "straw-coloured", "yellow", "platinum blond",
                   "light golden", "butter-yellow"),
    "black hair": ("black", "jet-black", "pitch-black", "inky", "jet", "blue-black", "midnight-black"),
    "brown hair": ("brown", "brunette", "chestnut", "nut-brown", "mousy brown", "medium brown", "caramel"),
    "red hair": ("red", "ginger", "auburn", "strawberry", "carrot", "orange-red", "rust-coloured"),
    "grey hair": ("grey", "gray", "silver", "silvery", "steel-grey", "pewter"),
    "white hair": ("white", "snow-white", "bone-white", "silver-white", "chalk-white"),
}
HAIR_COLOUR_EXTRA: dict[str, tuple[str, ...]] = {
    "blond hair": ("a blonde", "blond-haired", "golden-haired"),
    "black hair": ("black-haired",),
    "brown hair": ("brown-haired",),
    "red hair": ("red-haired", "a ginger", "ginger-haired"),
    "grey hair": ("grey-haired", "gray-haired", "silver-haired"),
    "white hair": ("white-haired",),
}

#: more ways to open and join a caption
PREFIXES_RICH = ("", "", "", "a person with ", "someone with ", "a man with ", "a woman with ", "a face with ",
                 "a head with ", "make a head with ", "give them ", "sculpt a face with ", "a portrait of someone with ",
                 "i want ", "generate a person with ", "a character with ", "an adult with ", "a guy with ",
                 "a lady with ", "please give the head ", "create a face with ", "a young person with ",
                 "an older person with ", "a model with ", "change the head to have ", "the person should have ")
JOINERS = (", ", " and ", ", ", "; ", " with ", ", plus ", " and also ", ", and ")


# ---------------------------------------------------------------------------------------------------------
# phrase builders (all draws from the caller's random generator)
import re as _re

_SLOT = _re.compile(r"\{([dcqfn])\}")
#: words dropped before the content-word comparison of :func:`content_words` (articles and degree adverbs)
STOP_WORDS = frozenset({"a", "an", "the", "very", "slightly", "much", "somewhat", "extremely", "really", "quite",
                        "fairly", "mildly", "moderately", "noticeably", "clearly", "exceptionally", "remarkably",
                        "incredibly", "unusually", "strikingly", "extraordinarily", "super", "seriously",
                        "enormously", "marginally", "considerably", "significantly", "dramatically", "vastly",
                        "far", "way", "broadly", "strongly", "fully", "faintly", "lightly", "subtly", "intensely",
                        "hugely", "wildly"})


def content_words(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` without articles and degree adverbs (STOP_WORDS)."""
    return [w for w in _re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower()) if w not in STOP_WORDS]


def _article(phrase: str) -> str:
    phrase = " ".join(phrase.split())
    w = phrase.split()
    if not w:
        return phrase
    noun = w[-1]
    if noun.endswith("s") and not noun.endswith("ss"):
        return phrase
    return _clean("a " + phrase)


def _clean(s: str) -> str:
    s = " ".join(s.split()).replace(" ,", ",")
    s = _re.sub(r"\ban? (a (?:bit|little|touch|tad|lot|good deal|great deal)\b)", r"\1", s)   # "a a bit" -> "a bit"
    s = _re.sub(r"\ba (?=[aeiou])", "an ", s)
    return _re.sub(r"\ban (?=[^aeiou\s])", "a ", s)


def _fill(template: str, level: int, sign: int, rng) -> str:
    def sub(m):
        k = m.group(1)
        table = {"d": DEG, "c": COMP, "f": FAR, "n": NEAR}.get(k)
        if k == "q":
            return str(rng.choice(QTY[sign][level]))
        return str(rng.choice(table[level]))
    return _clean(_SLOT.sub(sub, template))


def _pick_template(templates, level: int, rng):
    """A template usable at ``level`` (slot-less templates only at the plain level) or None."""
    ok = [t for t in templates if _SLOT.search(t) or level == 1]
    return str(rng.choice(ok)) if ok else None


def shape_phrase(name: str, sign: int, level: int, rng) -> str:
    """A phrase asking for shape attribute ``name`` in direction ``sign`` (+1 more, -1 less) at intensity
    ``level`` (0 slightly, 1 plain, 2 very/much)."""
    lex = SHAPE_LEX[name]
    key = lex["more"] if sign > 0 else lex["less"]
    adjs = (LEX[key] if key else ()) + tuple(lex.get("extra_more" if sign > 0 else "extra_less", ()))
    form = rng.random()
    if adjs and form < 0.55:
        adj, noun = str(rng.choice(adjs)), str(rng.choice(lex["nouns"]))
        plural = noun.endswith("s") and not noun.endswith("ss")
        sub = rng.random()
        if sub < 0.45 or " " in adj:
            return _article(f"{rng.choice(DEG[level])} {adj} {noun}")
        if sub < 0.75:
            return _article(f"{rng.choice(COMP[level])} {comparative_of(adj)} {noun}")
        verb = "are" if plural else "is"
        if rng.random() < 0.5:
            return _clean(f"{_article(noun)} that {verb} {rng.choice(DEG[level])} {adj}")
        return _clean(f"the {noun} {verb} {rng.choice(DEG[level])} {adj}")
    t = _pick_template(lex[1 if sign > 0 else -1], level, rng)
    if t is None:
        return shape_phrase(name, sign, level, rng) if adjs else _clean(f"{DEG[level][0]} {t}")
    return _fill(t, level, 1 if sign > 0 else -1, rng)


def expression_phrase(name: str, level: int | None, rng) -> str | None:
    """A phrase for everyday expression group ``name`` at intensity ``level`` (None = negated); None when the
    group has no such wording here (the caller keeps the plain one)."""
    lex = EXPR_LEX.get(name)
    if lex is None:
        return None
    if level is None:
        return str(rng.choice(lex["less"])) if lex["less"] else None
    t = _pick_template(lex["more"], level, rng)
    if t is None:
        return None
    table = EXPR_DEG_POST if t.endswith("{d}") else EXPR_DEG
    return _clean(t.replace("{d}", str(rng.choice(table[level]))))


def appearance_phrase(name: str, sign: int, level: int, rng) -> str | None:
    """A phrase for appearance attribute ``name`` (signed lightness: direction and level; hair colour: sign 1,
    level ignored); None when there is no rich wording for it."""
    if name in HAIR_COLOUR_WORDS:
        extra = HAIR_COLOUR_EXTRA.get(name, ())
        if extra and rng.random() < 0.15:
            return str(rng.choice(extra))
        w, noun = str(rng.choice(HAIR_COLOUR_WORDS[name])), str(rng.choice(HAIR_NOUNS))
        r = rng.random()
        if r < 0.7:
            return f"{w} {noun}"
        if r < 0.85:
            return f"{noun} that is {w}"
        return f"hair coloured {w}"
    lex = APPEARANCE_LEX.get(name)
    if lex is None:
        return None
    extra = lex.get("extra_more" if sign > 0 else "extra_less", ())
    if extra and level == 1 and rng.random() < 0.2:
        return str(rng.choice(extra))
    adj = str(rng.choice(lex["more" if sign > 0 else "less"]))
    noun = str(rng.choice(lex["nouns"]))
    r = rng.random()
    if r < 0.45:
        return _clean(f"{rng.choice(DEG[level])} {adj} {noun}")
    if r < 0.8:
        return _clean(f"{rng.choice(COMP[level])} {comparative_of(adj)} {noun}")
    return _clean(f"{noun} that is {rng.choice(DEG[level])} {adj}")
