"""A small Danish archive and the queries a visitor types, each with the article that must be
among the first three results: inflected forms (Pagefind's Danish stemmer), æ/ø/å."""

from __future__ import annotations

# slug → (title, text)
ARTICLES: dict[str, tuple[str, str]] = {
    "borgermoedet": ("Borgeren tager ordet", "Hver borger i byen kan komme og tale om sin gade."),
    "samarbejde": ("Samarbejde kan læres", "Medarbejdere skal lære at lytte, før de taler."),
    "hoering": ("Sådan holder I en høring", "En høring giver alle en chance for at blive hørt om planen."),
    "kommune": ("Når en kommune åbner dørene", "Kommunen inviterede til dialog på rådhuset."),
    "ungdomsraad": ("Et ungdomsråd med magt", "De unge fik deres egen stemme i byrådet."),
    "aeroe": ("Dialog på Ærø", "Øboerne på Ærø mødtes på havnen om færgens fremtid."),
    "boern": ("Børn spørger politikerne", "Et barn kan stille de skarpeste spørgsmål til politikere."),
    "lokalplan": ("Lokalplan med beboerne", "Beboerne læste lokalplan og tegnede deres ønsker på kortet."),
    "frivillig": ("Frivillig i foreningen", "Hver frivillig fik en mentor det første år."),
    "demokrati": ("Demokrati i hverdagen", "Nærdemokrati handler om de små beslutninger i et demokrati."),
    "inddragelse": ("Tidlig inddragelse betaler sig", "Inddragelse fra starten sparer tid senere."),
    "workshop": ("En workshop om fremtidens by", "Deltagerne byggede modeller i en workshop over to dage."),
    "klima": ("Klima og borgerting", "Et borgerting om klima gav politikerne konkrete forslag."),
    "budget": ("Borgerne fordeler et budget", "Et budget på en million blev fordelt ved afstemning."),
    "bibliotek": ("Biblioteket som mødested", "Et bibliotek kan være byens dagligstue."),
    "aeldre": ("Ældre borgere i ældrerådet", "Ældre ønsker at blive spurgt, før plejen ændres."),
    "spoergeskema": ("Et spørgeskema er ikke nok", "Et spørgeskema fanger kun dem, der svarer."),
    "facilitering": ("God facilitering", "Facilitering kræver en neutral mødeleder."),
    "dialogcafe": ("Dialogcafé i kantinen", "En dialogcafé samler små grupper ved cafébordene."),
    "trafik": ("Trafiksikkerhed ved skolen", "Forældre kortlagde farlige kryds for trafiksikkerheden."),
    "skole": ("Skolen som samlingspunkt", "En skole er mere end undervisning: den samler lokalsamfundet."),
    "nabo": ("Nabo til en byggeplads", "Hver nabo fik en kontaktperson under byggeriet."),
    "park": ("Parken blev tegnet af brugerne", "Brugerne af parken valgte legeplads og bænke."),
    "koege": ("Erfaringer fra Køge", "I Køge blev havnefronten planlagt sammen med borgerne."),
    "vaerksted": ("Fremtidsværksted i Aabenraa", "Et værksted om byens fremtid med skitser og post-its."),
}

# (what a visitor types, the article that must be among the first three)
QUERIES: list[tuple[str, str]] = [
    ("borgeren", "borgermoedet"),
    ("læres", "samarbejde"),
    ("høringer", "hoering"),
    ("kommunerne", "kommune"),
    ("ungdomsrådet", "ungdomsraad"),
    ("Ærø", "aeroe"),
    ("børn", "boern"),
    ("lokalplanen", "lokalplan"),
    ("frivillige", "frivillig"),
    ("demokratiet", "demokrati"),
    ("inddragelsen", "inddragelse"),
    ("workshoppen", "workshop"),
    ("klimaet", "klima"),
    ("budgettet", "budget"),
    ("bibliotekerne", "bibliotek"),
    ("ældre", "aeldre"),
    ("spørgeskemaer", "spoergeskema"),
    ("faciliteringen", "facilitering"),
    ("dialogcaféer", "dialogcafe"),
    ("trafiksikkerhed", "trafik"),
    ("skolerne", "skole"),
    ("naboerne", "nabo"),
    ("parkerne", "park"),
    ("Køge", "koege"),
    ("værkstedet", "vaerksted"),
]
