"""English / Chinese vocabulary of product search: brands, categories, attributes, fillers.

Pure data, kept apart from the parsing logic in :mod:`digirec.search` so that a shop can review
and extend it in one place. Every term is lower case (queries are NFKC-normalised and lower-cased
before matching). Latin terms match whole words (an optional plural ``s`` is allowed for
categories); CJK terms match as substrings, longest first, so ``平板电脑`` wins over ``电脑`` and
``手机壳`` (a phone case) over ``手机``.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------- brands
#: Canonical brand name -> aliases (English spellings and Chinese names). The canonical name is
#: matched to the catalogue's ``brand`` values case- and punctuation-insensitively; brands of
#: the catalogue and its ``brand_zh`` column are recognised too, without being listed here.
BRAND_ALIASES: dict[str, tuple[str, ...]] = {
    "Apple": ("apple", "苹果"),
    "Samsung": ("samsung", "三星"),
    "Huawei": ("huawei", "华为"),
    "Honor": ("honor", "荣耀"),
    "Xiaomi": ("xiaomi", "小米", "redmi", "红米"),
    "Google": ("google", "谷歌"),
    "OPPO": ("oppo",),
    "vivo": ("vivo",),
    "OnePlus": ("oneplus", "one plus", "一加"),
    "Sony": ("sony", "索尼"),
    "Bose": ("bose", "博士"),
    "Sennheiser": ("sennheiser", "森海塞尔"),
    "JBL": ("jbl",),
    "Beats": ("beats",),
    "Lenovo": ("lenovo", "联想"),
    "Dell": ("dell", "戴尔"),
    "HP": ("hp", "hewlett packard", "hewlett-packard", "惠普"),
    "Asus": ("asus", "华硕"),
    "Acer": ("acer", "宏碁"),
    "MSI": ("msi", "微星"),
    "Microsoft": ("microsoft", "微软"),
    "Canon": ("canon", "佳能"),
    "Nikon": ("nikon", "尼康"),
    "Fujifilm": ("fujifilm", "fuji", "富士"),
    "Panasonic": ("panasonic", "松下"),
    "GoPro": ("gopro", "go pro"),
    "DJI": ("dji", "大疆"),
    "Insta360": ("insta360", "影石"),
    "Garmin": ("garmin", "佳明"),
    "Amazfit": ("amazfit", "华米"),
    "LG": ("lg",),
    "TCL": ("tcl",),
    "Hisense": ("hisense", "海信"),
    "Philips": ("philips", "飞利浦"),
    "Amazon": ("amazon", "亚马逊"),
    "Marshall": ("marshall", "马歇尔"),
    "BenQ": ("benq", "明基"),
    "Nintendo": ("nintendo", "任天堂"),
    "Razer": ("razer", "雷蛇"),
    "SteelSeries": ("steelseries", "赛睿"),
    "Logitech": ("logitech", "罗技"),
    "Anker": ("anker", "安克"),
    "Belkin": ("belkin", "贝尔金"),
    "Ugreen": ("ugreen", "绿联"),
    "SanDisk": ("sandisk", "闪迪"),
    "Lexar": ("lexar", "雷克沙"),
    "Epson": ("epson", "爱普生"),
    "Brother": ("brother", "兄弟"),
    "Meizu": ("meizu", "魅族"),
    "realme": ("realme", "真我"),
}

#: Words right before a brand that make it a compatibility hint, not the product's brand:
#: "ink cartridge for hp printer" wants HP-compatible ink, whoever makes it.
COMPATIBILITY_PREFIXES: tuple[str, ...] = (
    "for",
    "compatible with",
    "compatible",
    "fits",
    "works with",
    "适用于",
    "适用",
    "适配",
    "兼容",
    "用于",
)

# ---------------------------------------------------------------------------- categories
#: Canonical category -> query terms. Canonical names are matched to the catalogue's
#: ``category`` values (case- and plural-insensitively); a category the catalogue lacks is
#: not a hard constraint and its words stay in the semantic query.
CATEGORY_TERMS: dict[str, tuple[str, ...]] = {
    "Phones": (
        "phone",
        "smartphone",
        "mobile phone",
        "cell phone",
        "cellphone",
        "手机",
        "智能手机",
        "折叠屏",
    ),
    "Tablets": ("tablet", "ipad", "e-reader", "ereader", "kindle", "平板", "平板电脑", "电子书"),
    "Headphones": (
        "headphone",
        "headphones",
        "headset",
        "earbud",
        "earbuds",
        "earphone",
        "earphones",
        "airpods",
        "耳机",
        "耳麦",
    ),
    "Laptops": (
        "laptop",
        "notebook",
        "ultrabook",
        "macbook",
        "笔记本",
        "笔记本电脑",
        "电脑",
        "游戏本",
    ),
    "Cameras": (
        "mirrorless",
        "dslr",
        "drone",
        "action camera",
        "无人机",
        "单反",
        "微单",
        "运动相机",
    ),
    "Smartwatches": (
        "smartwatch",
        "smart watch",
        "watch",
        "fitness tracker",
        "手表",
        "智能手表",
        "手环",
    ),
    "TVs": ("tv", "television", "电视", "电视机"),
    "Speakers": ("speaker", "soundbar", "音箱", "音响", "回音壁"),
    "Monitors": ("monitor", "显示器"),
    "Games": ("console", "video game", "vr headset", "游戏机", "主机", "掌机"),
    "Software": ("software", "antivirus", "软件", "杀毒"),
    "Accessories": (
        "accessory",
        "accessories",
        "phone case",
        "case",
        "screen protector",
        "charger",
        "power bank",
        "cable",
        "memory card",
        "sd card",
        "tripod",
        "gimbal",
        "camera bag",
        "laptop bag",
        "watch band",
        "tv mount",
        "monitor arm",
        "keyboard",
        "mouse",
        "mice",
        "game controller",
        "controller",
        "dock",
        "hub",
        "lens",
        "配件",
        "手机壳",
        "保护壳",
        "保护套",
        "手机膜",
        "钢化膜",
        "贴膜",
        "充电器",
        "充电宝",
        "移动电源",
        "数据线",
        "存储卡",
        "内存卡",
        "三脚架",
        "稳定器",
        "云台",
        "相机包",
        "电脑包",
        "表带",
        "电视支架",
        "显示器支架",
        "键盘",
        "鼠标",
        "手柄",
        "扩展坞",
        "镜头",
    ),
}

#: Terms that name a category when the query names no other, and an attribute otherwise:
#: "游戏" alone is the Games aisle, "游戏手机" a phone for gaming; "camera" alone is the
#: Cameras aisle, "camera phone" a phone with a good camera.
FLEXIBLE_CATEGORY_TERMS: dict[str, tuple[str, tuple[str, ...]]] = {
    # category, (query terms)                       -> attribute (see ATTRIBUTES)
    "gaming": ("Games", ("game", "games", "gaming", "游戏", "电竞")),
    "camera": ("Cameras", ("camera", "cameras", "相机", "照相机", "数码相机")),
}

# ---------------------------------------------------------------------------- attributes
#: Attribute -> (query triggers, item-side terms). An attribute named in the query boosts items
#: whose title, features or subcategory contain an item-side term; the trigger words also stay
#: in the semantic query (the encoder may know more synonyms than this table).
ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "camera": (
        (
            "拍照",
            "摄影",
            "照相",
            "影像",
            "长焦",
            "camera",
            "photography",
            "photo",
            "photos",
            "telephoto",
            "selfie",
            "自拍",
        ),
        (
            "telephoto",
            "triple camera",
            "camera",
            "megapixel",
            "长焦",
            "影像",
            "拍照",
            "徕卡",
            "leica",
        ),
    ),
    "noise_cancelling": (
        (
            "降噪",
            "主动降噪",
            "noise cancelling",
            "noise canceling",
            "noise-cancelling",
            "noise-canceling",
            "anc",
            "quiet",
        ),
        ("noise cancelling", "noise canceling", "noise-cancelling", "降噪", "anc"),
    ),
    "gaming": (
        ("游戏", "电竞", "gaming", "game", "games", "gamer", "esports"),
        (
            "gaming",
            "游戏",
            "电竞",
            "rtx",
            "144hz",
            "165hz",
            "240hz",
            "120hz",
            "low latency",
            "ray tracing",
        ),
    ),
    "thin_light": (
        (
            "轻薄",
            "便携",
            "轻便",
            "thin and light",
            "thin & light",
            "lightweight",
            "light weight",
            "ultralight",
            "ultra-light",
            "portable",
            "slim",
        ),
        ("ultrabook", "lightweight", "轻薄", "portable", "便携", "slim", "air"),
    ),
    "long_battery": (
        (
            "长续航",
            "续航",
            "待机",
            "long battery",
            "battery life",
            "long-lasting",
            "all-day battery",
        ),
        ("long battery life", "long-lasting battery", "长续航", "battery life"),
    ),
    "waterproof": (
        ("防水", "waterproof", "water resistant", "water-resistant", "swim", "游泳"),
        ("water resistant", "water-resistant", "waterproof", "防水"),
    ),
    "wireless": (
        ("无线", "蓝牙", "wireless", "bluetooth", "cordless"),
        ("wireless", "bluetooth", "无线", "蓝牙"),
    ),
    "5g": (("5g",), ("5g",)),
    "4k": (("4k", "超高清", "uhd"), ("4k", "uhd", "超高清")),
    "oled": (("oled",), ("oled",)),
    "fast_charging": (
        ("快充", "闪充", "fast charging", "fast charge", "quick charge", "gan"),
        ("fast charging", "快充", "gan"),
    ),
    "foldable": (
        ("折叠", "foldable", "folding", "fold", "flip"),
        ("foldable", "折叠", "fold", "flip"),
    ),
    "hifi": (
        ("hifi", "hi-fi", "hi-res", "音质", "高音质", "audiophile"),
        ("hi-res audio", "hi-res", "spatial audio", "dolby atmos"),
    ),
    "health": (
        (
            "心率",
            "血氧",
            "健康",
            "运动",
            "睡眠",
            "heart rate",
            "fitness",
            "health",
            "sleep",
            "workout",
            "running",
        ),
        ("heart rate", "ecg", "blood oxygen", "sleep tracking", "gps", "fitness"),
    ),
    "stylus": (
        ("手写笔", "绘画", "画画", "stylus", "pencil", "drawing"),
        ("stylus", "pencil", "手写笔"),
    ),
    "refurbished": (
        ("翻新", "二手", "refurbished", "renewed", "used"),
        ("renewed", "refurbished", "翻新"),
    ),
    "premium": (
        ("旗舰", "高端", "顶配", "flagship", "premium", "high-end", "high end"),
        ("flagship", "旗舰", "pro", "ultra", "max"),
    ),
}

#: Words asking for a low price without a number: a soft preference for cheaper items.
CHEAP_TERMS: tuple[str, ...] = (
    "cheap",
    "cheapest",
    "budget",
    "affordable",
    "inexpensive",
    "low cost",
    "便宜",
    "实惠",
    "性价比",
    "平价",
    "入门",
    "低价",
)

# ---------------------------------------------------------------------------- fillers
#: Words that carry no product meaning; removed from the semantic query.
_FILLERS_EN = (
    "a an the for with and or of in on to me my i im i'm want need needs looking look show find "
    "buy get some any please that which is are be good best nice new one ones something "
    "recommend recommendation suggest can you us what who price priced cost costs"
)
STOPWORDS_EN: frozenset[str] = frozenset(_FILLERS_EN.split())

#: Chinese fillers, removed as substrings (longest first).
STOPWORDS_ZH: tuple[str, ...] = (
    "有没有",
    "有什么",
    "推荐一下",
    "推荐",
    "想买",
    "我想",
    "我要",
    "帮我",
    "给我",
    "哪款",
    "哪个",
    "一款",
    "一个",
    "一台",
    "一部",
    "一副",
    "好用",
    "好的",
    "适合",
    "请问",
    "求",
    "的",
    "吗",
    "呢",
    "吧",
    "买",
    "要",
    "找",
    "款",
)
