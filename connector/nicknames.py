"""Common English given-name nicknames, so "Bob Smith" and "Robert Smith" can be the same person.

Each line: a formal name, then the short forms people write on forms. A nickname may belong to
several formal names ("chris": Christopher, Christina, Christine); matching treats two first names
as compatible when they share any formal name.
"""

from __future__ import annotations

from functools import lru_cache

_TABLE = """
abigail: abby abbie gail
abraham: abe bram
albert: al bert bertie
alexander: alex al sandy xander lex
alexandra: alex alexa sandra sandy lexi
alfred: al alf fred freddie
allison: allie ally
andrew: andy drew
angela: angie
anthony: tony ant
antonio: tony toni
arthur: art artie
barbara: barb barbie babs
benjamin: ben benny benji
bernard: bernie
beverly: bev
bradley: brad
calvin: cal
catherine: cathy cat kate katie
charles: charlie chuck chas chaz
christina: chris tina christy
christine: chris tina christy
christopher: chris kit topher
cynthia: cindy
daniel: dan danny
david: dave davey
deborah: debbie deb debby
dennis: denny
donald: don donnie
dorothy: dot dottie dolly
douglas: doug
edward: ed eddie ted teddy ned
elizabeth: liz lizzie beth betty betsy eliza libby lisa
emily: em emmy
eugene: gene
frances: fran frannie
francis: frank fran
frederick: fred freddie fritz
gabriel: gabe
gabriella: gabby gaby ella
geoffrey: geoff jeff
gerald: gerry jerry
gregory: greg
harold: hal harry
henry: hank harry hal
isabella: bella izzy isabel
jacob: jake
james: jim jimmy jamie jamey
janet: jan
jeffrey: jeff
jennifer: jen jenny jenn
jessica: jess jessie
john: jack johnny jon
jonathan: jon jonny nathan
joseph: joe joey
joshua: josh
judith: judy jude
katherine: kate kathy katie kat kay kitty
kathleen: kathy kate katie
kenneth: ken kenny
kimberly: kim kimmy
lawrence: larry laurie
leonard: leo len lenny
louis: lou louie
margaret: maggie meg peggy marge margie greta
matthew: matt matty
megan: meg
melissa: mel missy lissa
michael: mike mikey mick mickey
michelle: shelly michele
mitchell: mitch
nathaniel: nate nat nathan
nicholas: nick nicky
nicole: nicky nikki
pamela: pam
patricia: pat patty trish tricia
patrick: pat paddy rick
peter: pete
philip: phil pip
rebecca: becky becca
richard: rich rick ricky dick richie
robert: bob bobby rob robbie bert
ronald: ron ronnie
russell: russ
samantha: sam sammy
samuel: sam sammy
sandra: sandy
stephanie: steph stephie
stephen: steve stevie
steven: steve stevie
susan: sue susie suzy
suzanne: sue suzy
theodore: ted teddy theo
thomas: tom tommy
timothy: tim timmy
valerie: val
victoria: vicky tori vic
vincent: vince vinny
walter: walt wally
william: bill billy will willie liam
zachary: zach zack
"""


def _parse(table: str) -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for line in table.strip().splitlines():
        formal, _, nicks = line.partition(":")
        formal = formal.strip()
        groups.setdefault(formal, set()).add(formal)
        for nick in nicks.split():
            groups.setdefault(nick, set()).add(formal)
    return {name: frozenset(formals) for name, formals in groups.items()}


# name (lower-case) -> the formal names it can stand for
FORMAL_NAMES: dict[str, frozenset[str]] = _parse(_TABLE)


@lru_cache(maxsize=65536)
def formal_names(first: str) -> frozenset[str]:
    """The formal names a (folded, lower-case) first name can stand for; itself when it is not in the table."""
    return FORMAL_NAMES.get(first, frozenset({first}))


@lru_cache(maxsize=65536)
def canonical_first(first: str) -> str:
    """One stable representative for blocking keys: the alphabetically first formal name ("bob" -> "robert")."""
    return min(formal_names(first))


def same_given_name(a: str, b: str) -> bool:
    """True when two folded first names are one and the same or nickname-related ("liz"/"elizabeth")."""
    return a == b or not formal_names(a).isdisjoint(formal_names(b))
