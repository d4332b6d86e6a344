"""Reference tables for `telltales simulate`: real cities, ISPs with their address blocks, devices, tools.

Plain data, no logic. Coordinates are city centres (WGS 84); ISP prefixes are blocks the
named network announces (approximately; the simulator only needs them public and
plausible); the operator and hijacker places follow public reporting on North Korean
IT-worker schemes (China's Liaoning and Jilin provinces, Russia's Far East, South-East
Asia) and on account takeover.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class City(NamedTuple):
    name: str
    region: str
    country: str
    lat: float
    lon: float
    tz: str
    weight: float  # relative share of the workforce living there


class Isp(NamedTuple):
    asn: int
    org: str
    prefixes: tuple[str, ...]
    weight: float
    kind: str  # res (residential) | mobile (carrier-grade NAT, coarse geo) | biz (business, hotels, offices)


# Where employees live. Mostly US metros and their suburbs, plus a normal international workforce;
# a few places far from every vantage point (Honolulu, Anchorage, São Paulo, Sydney, Auckland).
HOME_CITIES: Final[tuple[City, ...]] = (
    City("New York", "NY", "US", 40.7128, -74.0060, "America/New_York", 9),
    City("Jersey City", "NJ", "US", 40.7178, -74.0431, "America/New_York", 2),
    City("Stamford", "CT", "US", 41.0534, -73.5387, "America/New_York", 1),
    City("White Plains", "NY", "US", 41.0340, -73.7629, "America/New_York", 1),
    City("Hartford", "CT", "US", 41.7658, -72.6734, "America/New_York", 1),
    City("Boston", "MA", "US", 42.3601, -71.0589, "America/New_York", 5),
    City("Cambridge", "MA", "US", 42.3736, -71.1097, "America/New_York", 2),
    City("Worcester", "MA", "US", 42.2626, -71.8023, "America/New_York", 1),
    City("Providence", "RI", "US", 41.8240, -71.4128, "America/New_York", 1),
    City("Portland", "ME", "US", 43.6591, -70.2568, "America/New_York", 0.5),
    City("Burlington", "VT", "US", 44.4759, -73.2121, "America/New_York", 0.5),
    City("Buffalo", "NY", "US", 42.8864, -78.8784, "America/New_York", 1),
    City("Rochester", "NY", "US", 43.1566, -77.6088, "America/New_York", 1),
    City("Philadelphia", "PA", "US", 39.9526, -75.1652, "America/New_York", 4),
    City("Pittsburgh", "PA", "US", 40.4406, -79.9959, "America/New_York", 2),
    City("Baltimore", "MD", "US", 39.2904, -76.6122, "America/New_York", 2),
    City("Washington", "DC", "US", 38.9072, -77.0369, "America/New_York", 4),
    City("Arlington", "VA", "US", 38.8816, -77.0910, "America/New_York", 2),
    City("Richmond", "VA", "US", 37.5407, -77.4360, "America/New_York", 1),
    City("Raleigh", "NC", "US", 35.7796, -78.6382, "America/New_York", 2),
    City("Durham", "NC", "US", 35.9940, -78.8986, "America/New_York", 1),
    City("Charlotte", "NC", "US", 35.2271, -80.8431, "America/New_York", 2),
    City("Charleston", "SC", "US", 32.7765, -79.9311, "America/New_York", 0.5),
    City("Atlanta", "GA", "US", 33.7490, -84.3880, "America/New_York", 4),
    City("Miami", "FL", "US", 25.7617, -80.1918, "America/New_York", 3),
    City("Orlando", "FL", "US", 28.5383, -81.3792, "America/New_York", 2),
    City("Tampa", "FL", "US", 27.9506, -82.4572, "America/New_York", 2),
    City("Jacksonville", "FL", "US", 30.3322, -81.6557, "America/New_York", 1),
    City("Columbus", "OH", "US", 39.9612, -82.9988, "America/New_York", 2),
    City("Cleveland", "OH", "US", 41.4993, -81.6944, "America/New_York", 1),
    City("Cincinnati", "OH", "US", 39.1031, -84.5120, "America/New_York", 1),
    City("Detroit", "MI", "US", 42.3314, -83.0458, "America/Detroit", 2),
    City("Ann Arbor", "MI", "US", 42.2808, -83.7430, "America/Detroit", 1),
    City("Louisville", "KY", "US", 38.2527, -85.7585, "America/Kentucky/Louisville", 1),
    City("Indianapolis", "IN", "US", 39.7684, -86.1581, "America/Indiana/Indianapolis", 1.5),
    City("Nashville", "TN", "US", 36.1627, -86.7816, "America/Chicago", 2),
    City("Memphis", "TN", "US", 35.1495, -90.0490, "America/Chicago", 0.5),
    City("Birmingham", "AL", "US", 33.5186, -86.8104, "America/Chicago", 0.5),
    City("Chicago", "IL", "US", 41.8781, -87.6298, "America/Chicago", 6),
    City("Evanston", "IL", "US", 42.0451, -87.6877, "America/Chicago", 1),
    City("Naperville", "IL", "US", 41.7508, -88.1535, "America/Chicago", 1),
    City("Milwaukee", "WI", "US", 43.0389, -87.9065, "America/Chicago", 1),
    City("Madison", "WI", "US", 43.0731, -89.4012, "America/Chicago", 1),
    City("Minneapolis", "MN", "US", 44.9778, -93.2650, "America/Chicago", 2),
    City("St. Louis", "MO", "US", 38.6270, -90.1994, "America/Chicago", 1.5),
    City("Kansas City", "MO", "US", 39.0997, -94.5786, "America/Chicago", 1.5),
    City("Omaha", "NE", "US", 41.2565, -95.9345, "America/Chicago", 0.5),
    City("Des Moines", "IA", "US", 41.5868, -93.6250, "America/Chicago", 0.5),
    City("Sioux Falls", "SD", "US", 43.5446, -96.7311, "America/Chicago", 0.3),
    City("Fargo", "ND", "US", 46.8772, -96.7898, "America/Chicago", 0.3),
    City("Little Rock", "AR", "US", 34.7465, -92.2896, "America/Chicago", 0.3),
    City("New Orleans", "LA", "US", 29.9511, -90.0715, "America/Chicago", 1),
    City("Oklahoma City", "OK", "US", 35.4676, -97.5164, "America/Chicago", 0.5),
    City("Dallas", "TX", "US", 32.7767, -96.7970, "America/Chicago", 4),
    City("Plano", "TX", "US", 33.0198, -96.6989, "America/Chicago", 1.5),
    City("Fort Worth", "TX", "US", 32.7555, -97.3308, "America/Chicago", 1),
    City("Austin", "TX", "US", 30.2672, -97.7431, "America/Chicago", 4),
    City("Round Rock", "TX", "US", 30.5083, -97.6789, "America/Chicago", 1),
    City("Houston", "TX", "US", 29.7604, -95.3698, "America/Chicago", 3),
    City("San Antonio", "TX", "US", 29.4241, -98.4936, "America/Chicago", 1.5),
    City("Denver", "CO", "US", 39.7392, -104.9903, "America/Denver", 3),
    City("Boulder", "CO", "US", 40.0150, -105.2705, "America/Denver", 1),
    City("Colorado Springs", "CO", "US", 38.8339, -104.8214, "America/Denver", 0.5),
    City("Salt Lake City", "UT", "US", 40.7608, -111.8910, "America/Denver", 1.5),
    City("Albuquerque", "NM", "US", 35.0844, -106.6504, "America/Denver", 0.5),
    City("Billings", "MT", "US", 45.7833, -108.5007, "America/Denver", 0.2),
    City("Boise", "ID", "US", 43.6150, -116.2023, "America/Boise", 0.5),
    City("Phoenix", "AZ", "US", 33.4484, -112.0740, "America/Phoenix", 2.5),
    City("Scottsdale", "AZ", "US", 33.4942, -111.9261, "America/Phoenix", 1),
    City("Tucson", "AZ", "US", 32.2226, -110.9747, "America/Phoenix", 0.5),
    City("Las Vegas", "NV", "US", 36.1699, -115.1398, "America/Los_Angeles", 1),
    City("Los Angeles", "CA", "US", 34.0522, -118.2437, "America/Los_Angeles", 5),
    City("Pasadena", "CA", "US", 34.1478, -118.1445, "America/Los_Angeles", 1),
    City("Irvine", "CA", "US", 33.6846, -117.8265, "America/Los_Angeles", 1.5),
    City("San Diego", "CA", "US", 32.7157, -117.1611, "America/Los_Angeles", 2.5),
    City("San Francisco", "CA", "US", 37.7749, -122.4194, "America/Los_Angeles", 6),
    City("Oakland", "CA", "US", 37.8044, -122.2712, "America/Los_Angeles", 2),
    City("San Jose", "CA", "US", 37.3382, -121.8863, "America/Los_Angeles", 3),
    City("Palo Alto", "CA", "US", 37.4419, -122.1430, "America/Los_Angeles", 1.5),
    City("Sacramento", "CA", "US", 38.5816, -121.4944, "America/Los_Angeles", 1),
    City("Portland", "OR", "US", 45.5152, -122.6784, "America/Los_Angeles", 2),
    City("Seattle", "WA", "US", 47.6062, -122.3321, "America/Los_Angeles", 5),
    City("Bellevue", "WA", "US", 47.6101, -122.2015, "America/Los_Angeles", 1.5),
    City("Tacoma", "WA", "US", 47.2529, -122.4443, "America/Los_Angeles", 0.5),
    City("Spokane", "WA", "US", 47.6588, -117.4260, "America/Los_Angeles", 0.3),
    City("Anchorage", "AK", "US", 61.2181, -149.9003, "America/Anchorage", 0.4),
    City("Honolulu", "HI", "US", 21.3069, -157.8583, "Pacific/Honolulu", 0.5),
    City("Toronto", "ON", "CA", 43.6532, -79.3832, "America/Toronto", 3),
    City("Waterloo", "ON", "CA", 43.4643, -80.5204, "America/Toronto", 0.5),
    City("Ottawa", "ON", "CA", 45.4215, -75.6972, "America/Toronto", 0.7),
    City("Montreal", "QC", "CA", 45.5017, -73.5673, "America/Toronto", 1),
    City("Vancouver", "BC", "CA", 49.2827, -123.1207, "America/Vancouver", 1.5),
    City("Calgary", "AB", "CA", 51.0447, -114.0719, "America/Edmonton", 0.5),
    City("London", "ENG", "GB", 51.5074, -0.1278, "Europe/London", 4),
    City("Manchester", "ENG", "GB", 53.4808, -2.2426, "Europe/London", 0.7),
    City("Bristol", "ENG", "GB", 51.4545, -2.5879, "Europe/London", 0.4),
    City("Cambridge", "ENG", "GB", 52.2053, 0.1218, "Europe/London", 0.4),
    City("Edinburgh", "SCT", "GB", 55.9533, -3.1883, "Europe/London", 0.5),
    City("Dublin", "L", "IE", 53.3498, -6.2603, "Europe/Dublin", 0.8),
    City("Berlin", "BE", "DE", 52.5200, 13.4050, "Europe/Berlin", 1.5),
    City("Munich", "BY", "DE", 48.1351, 11.5820, "Europe/Berlin", 0.8),
    City("Hamburg", "HH", "DE", 53.5511, 9.9937, "Europe/Berlin", 0.5),
    City("Frankfurt", "HE", "DE", 50.1109, 8.6821, "Europe/Berlin", 0.4),
    City("Amsterdam", "NH", "NL", 52.3676, 4.9041, "Europe/Amsterdam", 0.6),
    City("Paris", "IDF", "FR", 48.8566, 2.3522, "Europe/Paris", 0.6),
    City("Madrid", "MD", "ES", 40.4168, -3.7038, "Europe/Madrid", 0.4),
    City("Barcelona", "CT", "ES", 41.3874, 2.1686, "Europe/Madrid", 0.4),
    City("Lisbon", "11", "PT", 38.7223, -9.1393, "Europe/Lisbon", 0.3),
    City("Warsaw", "MZ", "PL", 52.2297, 21.0122, "Europe/Warsaw", 1),
    City("Krakow", "MA", "PL", 50.0647, 19.9450, "Europe/Warsaw", 0.6),
    City("Wroclaw", "DS", "PL", 51.1079, 17.0385, "Europe/Warsaw", 0.4),
    City("Bengaluru", "KA", "IN", 12.9716, 77.5946, "Asia/Kolkata", 3),
    City("Hyderabad", "TG", "IN", 17.3850, 78.4867, "Asia/Kolkata", 1.2),
    City("Pune", "MH", "IN", 18.5204, 73.8567, "Asia/Kolkata", 1),
    City("Chennai", "TN", "IN", 13.0827, 80.2707, "Asia/Kolkata", 0.7),
    City("Mumbai", "MH", "IN", 19.0760, 72.8777, "Asia/Kolkata", 0.7),
    City("New Delhi", "DL", "IN", 28.6139, 77.2090, "Asia/Kolkata", 0.6),
    City("Manila", "00", "PH", 14.5995, 120.9842, "Asia/Manila", 0.8),
    City("Quezon City", "00", "PH", 14.6760, 121.0437, "Asia/Manila", 0.4),
    City("Cebu City", "07", "PH", 10.3157, 123.8854, "Asia/Manila", 0.3),
    City("Singapore", "01", "SG", 1.3521, 103.8198, "Asia/Singapore", 0.3),
    City("Sydney", "NSW", "AU", -33.8688, 151.2093, "Australia/Sydney", 0.4),
    City("Melbourne", "VIC", "AU", -37.8136, 144.9631, "Australia/Melbourne", 0.3),
    City("Auckland", "AUK", "NZ", -36.8485, 174.7633, "Pacific/Auckland", 0.15),
    City("São Paulo", "SP", "BR", -23.5505, -46.6333, "America/Sao_Paulo", 0.8),
    City("Rio de Janeiro", "RJ", "BR", -22.9068, -43.1729, "America/Sao_Paulo", 0.3),
    City("Belo Horizonte", "MG", "BR", -19.9167, -43.9345, "America/Sao_Paulo", 0.2),
    City("Florianópolis", "SC", "BR", -27.5954, -48.5480, "America/Sao_Paulo", 0.2),
    City("Buenos Aires", "C", "AR", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", 0.3),
    City("Mexico City", "CMX", "MX", 19.4326, -99.1332, "America/Mexico_City", 0.6),
    City("Guadalajara", "JAL", "MX", 20.6597, -103.3496, "America/Mexico_City", 0.3),
    City("Bogotá", "DC", "CO", 4.7110, -74.0721, "America/Bogota", 0.3),
    City("Cape Town", "WC", "ZA", -33.9249, 18.4241, "Africa/Johannesburg", 0.15),
)

# Extra places that are trip destinations but not homes.
TRAVEL_ONLY_CITIES: Final[tuple[City, ...]] = (
    City("Tokyo", "13", "JP", 35.6762, 139.6503, "Asia/Tokyo", 1),
    City("Las Vegas", "NV", "US", 36.1699, -115.1398, "America/Los_Angeles", 1),
)

# Where offices can be (metros with many employees); the simulator picks a few per seed.
OFFICE_CANDIDATES: Final[tuple[str, ...]] = (
    "New York", "San Francisco", "Seattle", "Austin", "Chicago", "Boston", "Denver", "Atlanta",
    "London", "Toronto", "Bengaluru", "Berlin", "Warsaw",
)

# Places operators of North Korean IT-worker schemes work from, as public reporting describes
# them (DOJ indictments, Mandiant, Microsoft, Okta): north-east China, Russia's Far East,
# Laos and Cambodia, and occasionally Pyongyang itself.
OPERATOR_CITIES: Final[tuple[City, ...]] = (
    City("Shenyang", "Liaoning", "CN", 41.8057, 123.4315, "Asia/Shanghai", 4),
    City("Dandong", "Liaoning", "CN", 40.0006, 124.3546, "Asia/Shanghai", 3),
    City("Yanji", "Jilin", "CN", 42.9048, 129.5139, "Asia/Shanghai", 2),
    City("Beijing", "Beijing", "CN", 39.9042, 116.4074, "Asia/Shanghai", 1),
    City("Vladivostok", "Primorsky Krai", "RU", 43.1155, 131.8855, "Asia/Vladivostok", 2),
    City("Vientiane", "VT", "LA", 17.9757, 102.6331, "Asia/Vientiane", 1.5),
    City("Phnom Penh", "12", "KH", 11.5564, 104.9282, "Asia/Phnom_Penh", 1),
    City("Pyongyang", "01", "KP", 39.0392, 125.7625, "Asia/Pyongyang", 0.3),
)

# Where hijackers of dormant accounts log in from (account-takeover reporting).
HIJACKER_CITIES: Final[tuple[City, ...]] = (
    City("Moscow", "MOW", "RU", 55.7558, 37.6173, "Europe/Moscow", 2),
    City("Lagos", "LA", "NG", 6.5244, 3.3792, "Africa/Lagos", 2),
    City("Bucharest", "B", "RO", 44.4268, 26.1025, "Europe/Bucharest", 1),
    City("Ho Chi Minh City", "SG", "VN", 10.8231, 106.6297, "Asia/Ho_Chi_Minh", 1.5),
    City("Jakarta", "JK", "ID", -6.2088, 106.8456, "Asia/Jakarta", 1),
    City("Istanbul", "34", "TR", 41.0082, 28.9784, "Europe/Istanbul", 1),
    City("Karachi", "SD", "PK", 24.8607, 67.0011, "Asia/Karachi", 0.7),
    City("Shenyang", "Liaoning", "CN", 41.8057, 123.4315, "Asia/Shanghai", 0.7),
)

# Datacentre cities where hosting ranges (and consumer VPN exits) live.
HOSTING_CITIES: Final[dict[str, City]] = {
    "ashburn": City("Ashburn", "VA", "US", 39.0438, -77.4874, "America/New_York", 4),
    "secaucus": City("Secaucus", "NJ", "US", 40.7895, -74.0565, "America/New_York", 2),
    "piscataway": City("Piscataway", "NJ", "US", 40.5549, -74.4643, "America/New_York", 1),
    "chicago": City("Chicago", "IL", "US", 41.8781, -87.6298, "America/Chicago", 2),
    "dallas": City("Dallas", "TX", "US", 32.7767, -96.7970, "America/Chicago", 2),
    "atlanta": City("Atlanta", "GA", "US", 33.7490, -84.3880, "America/New_York", 1),
    "miami": City("Miami", "FL", "US", 25.7617, -80.1918, "America/New_York", 1),
    "los_angeles": City("Los Angeles", "CA", "US", 34.0522, -118.2437, "America/Los_Angeles", 3),
    "santa_clara": City("Santa Clara", "CA", "US", 37.3541, -121.9552, "America/Los_Angeles", 2),
    "seattle": City("Seattle", "WA", "US", 47.6062, -122.3321, "America/Los_Angeles", 1),
}


class Hosting(NamedTuple):
    asn: int
    org: str
    prefixes: tuple[str, ...]
    cities: tuple[str, ...]  # keys of HOSTING_CITIES


# US hosting ranges consumer VPNs and privacy relays exit from.
HOSTING: Final[tuple[Hosting, ...]] = (
    Hosting(14061, "DigitalOcean, LLC", ("159.203.0.0/16", "138.197.0.0/16", "64.225.0.0/17"), ("secaucus", "santa_clara")),
    Hosting(20473, "The Constant Company, LLC (Vultr)", ("45.76.0.0/15", "149.28.0.0/16", "144.202.0.0/16"), ("piscataway", "chicago", "dallas", "los_angeles", "seattle", "miami", "atlanta")),
    Hosting(63949, "Akamai Connected Cloud (Linode)", ("45.33.0.0/17", "172.104.0.0/15", "50.116.0.0/18"), ("secaucus", "dallas", "atlanta", "santa_clara")),
    Hosting(16276, "OVH SAS", ("51.81.0.0/16", "135.148.0.0/16"), ("ashburn", "seattle")),
    Hosting(9009, "M247 Europe SRL", ("193.37.254.0/24", "37.120.215.0/24", "89.187.164.0/22"), ("ashburn", "los_angeles", "miami", "dallas", "chicago")),
    Hosting(8100, "QuadraNet Enterprises LLC", ("104.223.0.0/17", "173.44.32.0/19", "192.161.160.0/19"), ("los_angeles", "dallas", "miami")),
    Hosting(40676, "Psychz Networks", ("104.149.0.0/16", "108.171.96.0/19"), ("los_angeles", "ashburn")),
)

# Apple iCloud Private Relay egress: CDN networks that exit near the user's own region.
RELAY_NETWORKS: Final[tuple[tuple[int, str, str], ...]] = (
    (13335, "Cloudflare, Inc.", "172.225.0.0/16"),
    (36183, "Akamai Technologies, Inc.", "172.226.0.0/16"),
    (54113, "Fastly, Inc.", "146.75.0.0/17"),
)

CONSUMER_VPNS: Final[tuple[str, ...]] = ("NordVPN", "ExpressVPN", "Surfshark", "Private Internet Access", "Proton VPN", "Mullvad")
OPERATIVE_VPNS: Final[tuple[tuple[str, float], ...]] = (("Astrill VPN", 0.7), ("LetsVPN", 0.1), ("ExpressVPN", 0.1), ("Surfshark", 0.1))

# Residential, mobile and business networks per country.
ISPS: Final[dict[str, tuple[Isp, ...]]] = {
    "US": (
        Isp(7922, "Comcast Cable Communications, LLC", ("73.0.0.0/8", "98.192.0.0/10", "24.0.0.0/12"), 28, "res"),
        Isp(20115, "Charter Communications (Spectrum)", ("24.160.0.0/12", "66.168.0.0/14", "174.96.0.0/12"), 22, "res"),
        Isp(7018, "AT&T Services, Inc.", ("99.0.0.0/10", "107.192.0.0/12", "76.192.0.0/10"), 16, "res"),
        Isp(701, "Verizon Business (Fios)", ("71.160.0.0/11", "108.0.0.0/13", "96.224.0.0/11"), 12, "res"),
        Isp(22773, "Cox Communications Inc.", ("68.0.0.0/13", "70.160.0.0/11"), 7, "res"),
        Isp(209, "CenturyLink Communications (Lumen)", ("71.208.0.0/12", "184.96.0.0/12"), 5, "res"),
        Isp(5650, "Frontier Communications", ("47.184.0.0/13", "50.32.0.0/11"), 4, "res"),
        Isp(11427, "Charter Communications (Time Warner Cable)", ("70.112.0.0/13", "97.96.0.0/11"), 3, "res"),
        Isp(21928, "T-Mobile USA, Inc.", ("172.32.0.0/11",), 1, "mobile"),
        Isp(6167, "Verizon Wireless", ("174.192.0.0/10",), 1, "mobile"),
        Isp(3356, "Level 3 Parent, LLC (Lumen)", ("4.0.0.0/9", "8.0.0.0/9"), 1, "biz"),
        Isp(6461, "Zayo Bandwidth", ("64.125.0.0/16", "208.184.0.0/15"), 1, "biz"),
        Isp(174, "Cogent Communications", ("38.0.0.0/8",), 1, "biz"),
    ),
    "CA": (
        Isp(812, "Rogers Communications Canada Inc.", ("99.224.0.0/11", "174.112.0.0/12"), 4, "res"),
        Isp(577, "Bell Canada", ("70.24.0.0/13", "76.64.0.0/13"), 4, "res"),
        Isp(6327, "Shaw Communications Inc.", ("70.64.0.0/11", "96.48.0.0/12"), 2, "res"),
        Isp(5769, "Videotron Telecom Ltee", ("24.200.0.0/13",), 1, "res"),
        Isp(6830, "Rogers Wireless", ("72.136.0.0/13",), 1, "mobile"),
        Isp(852, "TELUS Communications Inc.", ("142.158.0.0/16", "207.102.0.0/16"), 1, "biz"),
    ),
    "GB": (
        Isp(2856, "British Telecommunications PLC", ("86.128.0.0/10", "81.128.0.0/11"), 4, "res"),
        Isp(5089, "Virgin Media Limited", ("82.0.0.0/14", "82.8.0.0/14", "86.0.0.0/12"), 3, "res"),
        Isp(5607, "Sky UK Limited", ("2.96.0.0/13", "90.192.0.0/11"), 2, "res"),
        Isp(25135, "Vodafone Limited", ("85.255.232.0/21", "148.252.0.0/16"), 1, "mobile"),
        Isp(8220, "Colt Technology Services Group Limited", ("212.36.0.0/17", "213.86.0.0/16"), 1, "biz"),
    ),
    "IE": (
        Isp(5466, "Eir Broadband", ("86.40.0.0/13", "79.97.0.0/16"), 2, "res"),
        Isp(6830, "Virgin Media Ireland Limited", ("89.100.0.0/15",), 1, "res"),
        Isp(8220, "Colt Technology Services Group Limited", ("212.36.0.0/17",), 1, "biz"),
    ),
    "DE": (
        Isp(3320, "Deutsche Telekom AG", ("79.192.0.0/10", "84.128.0.0/10", "91.0.0.0/10"), 4, "res"),
        Isp(3209, "Vodafone GmbH", ("88.64.0.0/12", "94.134.0.0/15"), 2, "res"),
        Isp(6805, "Telefonica Germany GmbH", ("77.0.0.0/14", "89.204.128.0/17"), 1, "res"),
        Isp(8220, "Colt Technology Services Group Limited", ("213.61.0.0/16",), 1, "biz"),
    ),
    "NL": (Isp(1136, "KPN B.V.", ("77.160.0.0/12",), 2, "res"), Isp(33915, "Vodafone Libertel (Ziggo)", ("84.24.0.0/13",), 2, "res")),
    "FR": (Isp(3215, "Orange S.A.", ("90.0.0.0/9",), 2, "res"), Isp(12322, "Free SAS", ("78.192.0.0/10",), 2, "res")),
    "ES": (Isp(3352, "Telefonica de Espana", ("83.32.0.0/11",), 2, "res"), Isp(12479, "Orange Espagne", ("90.160.0.0/12",), 1, "res")),
    "PT": (Isp(3243, "MEO - Servicos de Comunicacoes e Multimedia", ("85.240.0.0/13",), 1, "res"),),
    "PL": (
        Isp(5617, "Orange Polska Spolka Akcyjna", ("83.0.0.0/11",), 3, "res"),
        Isp(6830, "UPC Polska Sp. z o.o.", ("89.64.0.0/13",), 2, "res"),
        Isp(12912, "T-Mobile Polska S.A.", ("188.146.0.0/15",), 1, "mobile"),
    ),
    "IN": (
        Isp(55836, "Reliance Jio Infocomm Limited", ("49.32.0.0/11", "157.32.0.0/12"), 4, "res"),
        Isp(24560, "Bharti Airtel Ltd., Telemedia Services", ("122.160.0.0/12", "223.176.0.0/12"), 3, "res"),
        Isp(24309, "Atria Convergence Technologies (ACT Fibernet)", ("106.51.0.0/16", "49.207.0.0/16"), 2, "res"),
        Isp(4755, "Tata Communications Limited", ("14.140.0.0/14", "115.112.0.0/13"), 1, "biz"),
    ),
    "PH": (
        Isp(9299, "Philippine Long Distance Telephone Company", ("49.144.0.0/13", "112.198.0.0/16"), 3, "res"),
        Isp(4775, "Globe Telecoms", ("112.200.0.0/13",), 2, "res"),
        Isp(17639, "Converge ICT Solutions Inc.", ("180.190.0.0/15",), 2, "res"),
    ),
    "SG": (Isp(9506, "Singtel Fibre Broadband", ("116.86.0.0/15",), 2, "res"), Isp(55430, "StarHub Ltd", ("183.90.0.0/15",), 1, "res")),
    "AU": (Isp(1221, "Telstra Corporation Ltd", ("101.160.0.0/11",), 3, "res"), Isp(4804, "Optus (Microplex PTY LTD)", ("49.176.0.0/12",), 2, "res")),
    "NZ": (Isp(4771, "Spark New Zealand Trading Ltd.", ("122.56.0.0/14",), 1, "res"),),
    "BR": (
        Isp(28573, "Claro NXT Telecomunicacoes Ltda", ("177.64.0.0/12", "189.0.0.0/11"), 3, "res"),
        Isp(26599, "Telefonica Brasil S.A (Vivo)", ("177.32.0.0/12", "187.0.0.0/11"), 3, "res"),
        Isp(7738, "Telemar Norte Leste S.A. (Oi)", ("177.0.0.0/13",), 1, "res"),
    ),
    "AR": (Isp(10318, "Telecom Argentina S.A.", ("181.0.0.0/12",), 1, "res"),),
    "MX": (Isp(8151, "Uninet S.A. de C.V. (Telmex)", ("187.128.0.0/10",), 3, "res"), Isp(17072, "Total Play Telecomunicaciones", ("201.150.0.0/16",), 1, "res")),
    "CO": (Isp(3816, "Colombia Telecomunicaciones (Movistar)", ("181.48.0.0/13",), 1, "res"),),
    "ZA": (Isp(37457, "Telkom SA Ltd.", ("105.224.0.0/12",), 1, "res"),),
    "JP": (Isp(4713, "NTT Communications Corporation (OCN)", ("153.128.0.0/10",), 1, "res"),),
    "CN": (
        Isp(4837, "China Unicom (Liaoning)", ("113.224.0.0/12", "175.160.0.0/12"), 3, "res"),
        Isp(4134, "China Telecom", ("124.0.0.0/12", "221.192.0.0/12"), 2, "res"),
        Isp(56044, "China Mobile Communications Group", ("120.192.0.0/11",), 1, "mobile"),
    ),
    "RU": (
        Isp(12389, "PJSC Rostelecom", ("178.64.0.0/13", "95.24.0.0/13"), 3, "res"),
        Isp(8359, "MTS PJSC", ("85.140.0.0/14",), 1, "res"),
    ),
    "LA": (Isp(9873, "Lao Telecommunication Public Company", ("115.84.64.0/18",), 1, "res"),),
    "KH": (Isp(38623, "Viettel (Cambodia) Pte., Ltd.", ("36.37.128.0/17",), 1, "res"),),
    "KP": (Isp(131279, "Ryugyong-dong (Star Joint Venture Co. Ltd.)", ("175.45.176.0/22",), 1, "res"),),
    "NG": (Isp(36873, "Airtel Networks Limited", ("105.112.0.0/12",), 1, "res"),),
    "RO": (Isp(8708, "RCS & RDS S.A. (Digi)", ("86.120.0.0/13",), 1, "res"),),
    "VN": (Isp(7552, "Viettel Group", ("171.224.0.0/11",), 2, "res"), Isp(45899, "VNPT Corp", ("113.160.0.0/11",), 1, "res")),
    "ID": (Isp(7713, "PT Telekomunikasi Indonesia", ("36.64.0.0/11",), 1, "res"),),
    "TR": (Isp(9121, "Turk Telekom", ("85.96.0.0/12",), 1, "res"),),
    "PK": (Isp(45595, "Pakistan Telecom Mobile (PTCL)", ("39.32.0.0/11",), 1, "res"),),
}

# Cloud networks the organisation's VPN egress and servers live in (per vantage region).
CLOUD_NETWORKS: Final[dict[str, tuple[int, str, str]]] = {
    "aws": (16509, "Amazon.com, Inc.", "3.80.0.0/12"),
    "gcp": (396982, "Google LLC", "34.64.0.0/10"),
}

LOCALES: Final[dict[str, tuple[str, ...]]] = {
    "US": ("en-US",), "CA": ("en-CA", "fr-CA"), "GB": ("en-GB",), "IE": ("en-IE",), "DE": ("de-DE",),
    "NL": ("nl-NL", "en-US"), "FR": ("fr-FR",), "ES": ("es-ES",), "PT": ("pt-PT",), "PL": ("pl-PL",),
    "IN": ("en-IN", "en-US"), "PH": ("en-PH", "en-US"), "SG": ("en-SG",), "AU": ("en-AU",), "NZ": ("en-NZ",),
    "BR": ("pt-BR",), "AR": ("es-AR",), "MX": ("es-MX",), "CO": ("es-CO",), "ZA": ("en-ZA",), "JP": ("ja-JP",),
}

# Second keyboard layouts bilingual employees in the US and elsewhere legitimately have.
SECOND_LAYOUTS: Final[tuple[tuple[str, float], ...]] = (
    ("es-US", 4), ("zh-CN", 2), ("ko-KR", 1), ("ja-JP", 0.7), ("vi-VN", 0.7), ("ru-RU", 0.7),
    ("hi-IN", 0.5), ("fr-FR", 1), ("de-DE", 0.6), ("he-IL", 0.3), ("ar-SA", 0.3), ("uk-UA", 0.3),
)

FIRST_NAMES: Final[tuple[str, ...]] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Priya", "Ashley",
    "Steven", "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kevin", "Michelle", "Brian", "Carol",
    "Wei", "Amanda", "Jin", "Melissa", "Ravi", "Deborah", "Luis", "Stephanie", "Ana", "Rebecca",
    "Oluwaseun", "Sharon", "Hiroshi", "Laura", "Ahmed", "Cynthia", "Mateo", "Amy", "Min-jun", "Angela",
    "Aarav", "Sofia", "Lukas", "Emma", "Olivia", "Noah", "Chloe", "Ethan", "Grace", "Diego",
)
LAST_NAMES: Final[tuple[str, ...]] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Sharma", "Chen", "Wang", "Kim", "Park", "Kowalski", "Nowak", "Müller", "Schmidt",
    "Silva", "Santos", "Reyes", "Cruz", "O'Brien", "Murphy", "Tanaka", "Singh", "Cohen", "Okafor",
)
KOREAN_LAST_NAMES: Final[tuple[str, ...]] = ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon")

ROLES: Final[tuple[tuple[str, float, bool], ...]] = (
    # role, share, makes interactive sessions to servers (SSH/RDP/VDI)
    ("Software Engineer", 30, True), ("Senior Software Engineer", 10, True), ("Site Reliability Engineer", 4, True),
    ("Data Scientist", 5, True), ("Data Engineer", 4, True), ("QA Engineer", 4, True),
    ("Product Manager", 6, False), ("Designer", 4, False), ("Sales", 9, False), ("Customer Support", 7, False),
    ("Marketing", 5, False), ("Finance", 4, False), ("HR", 3, False), ("Legal", 1.5, False),
    ("Security Engineer", 2, True), ("Engineering Manager", 3, True), ("Full-Stack Developer", 3, True),
    ("Mobile Developer", 1.5, True),
)
IT_ROLE: Final = "IT Support"
OPERATIVE_ROLES: Final[tuple[str, ...]] = ("Software Engineer", "Senior Software Engineer", "Full-Stack Developer", "Mobile Developer", "Data Engineer")

# The organisation's sanctioned helpdesk remote-access tool: one per seed.
HELPDESK_TOOLS: Final[tuple[str, ...]] = ("teamviewer", "screenconnect", "beyondtrust", "zoho_assist", "splashtop")
# Remote-control tools operatives install (public reporting: AnyDesk above all; also Chrome Remote
# Desktop, RustDesk, TeamViewer, Splashtop, Parsec).
OPERATIVE_RMM: Final[tuple[tuple[str, float], ...]] = (
    ("anydesk", 5), ("chrome_remote_desktop", 2), ("rustdesk", 2), ("teamviewer", 1.5), ("splashtop", 1), ("parsec", 0.7),
)
# How each tool's process shows on Windows and macOS.
TOOL_PROCESS: Final[dict[str, tuple[str, str]]] = {
    "anydesk": ("AnyDesk.exe", "AnyDesk"),
    "chrome_remote_desktop": ("remoting_host.exe", "chrome-remote-desktop-host"),
    "rustdesk": ("rustdesk.exe", "RustDesk"),
    "teamviewer": ("TeamViewer_Service.exe", "TeamViewer"),
    "splashtop": ("SRService.exe", "Splashtop Streamer"),
    "parsec": ("parsecd.exe", "parsecd"),
    "screenconnect": ("ScreenConnect.ClientService.exe", "connectwisecontrol"),
    "beyondtrust": ("bomgar-scc.exe", "bomgar-scc"),
    "zoho_assist": ("ZAService.exe", "ZohoAssist"),
    "caffeine": ("caffeine64.exe", "Caffeine"),
    "mouse_jiggler": ("MouseJiggler.exe", "Jiggler"),
    "move_mouse": ("Move Mouse.exe", "Move Mouse"),
}

PROCESSES: Final[dict[str, tuple[str, ...]]] = {
    "windows": ("explorer.exe", "chrome.exe", "msedge.exe", "slack.exe", "Teams.exe", "OUTLOOK.EXE", "Zoom.exe",
                "Code.exe", "1Password.exe", "CSFalconService.exe", "OneDrive.exe", "WINWORD.EXE", "EXCEL.EXE",
                "WindowsTerminal.exe", "docker.exe", "idea64.exe", "Spotify.exe", "svchost.exe"),
    "macos": ("Finder", "Google Chrome", "Safari", "Slack", "Microsoft Teams", "Microsoft Outlook", "zoom.us",
              "Code", "1Password", "falcond", "iTerm2", "Docker", "IntelliJ IDEA", "Spotify", "Notion", "launchd"),
    "linux": ("systemd", "gnome-shell", "firefox", "chrome", "slack", "code", "docker", "zoom", "falcon-sensor",
              "gnome-terminal-server", "ssh-agent", "1password"),
}
OS_VERSIONS: Final[dict[str, tuple[str, ...]]] = {
    "windows": ("Windows 11 Enterprise 23H2", "Windows 11 Enterprise 24H2", "Windows 10 Enterprise 22H2"),
    "macos": ("macOS 14.6", "macOS 15.3", "macOS 15.4"),
    "linux": ("Ubuntu 22.04", "Ubuntu 24.04", "Fedora 41"),
    "ipados": ("iPadOS 17.6", "iPadOS 18.3", "iPadOS 18.4"),  # a personal tablet taken on a trip
}
VPN_CLIENTS: Final[dict[str, str]] = {  # GlobalProtect user agents; {os} is the device's OS version
    "windows": "PAN GlobalProtect/6.2.4 (Microsoft {os}, 64-bit)",
    "macos": "PAN GlobalProtect/6.2.4 (Apple {os})",
    "linux": "PAN GlobalProtect/6.2.1 (Linux {os})",
    "ipados": "PAN GlobalProtect/6.2.4 (Apple {os})",
}

# (vendor_id, product_id, vendor, product, interface classes): peripherals people really plug in.
NORMAL_USB: Final[tuple[tuple[str, str, str, str, tuple[str, ...]], ...]] = (
    ("046d", "c52b", "Logitech", "USB Receiver", ("03",)),
    ("046d", "c548", "Logitech", "USB Receiver (Bolt)", ("03",)),
    ("046d", "085e", "Logitech", "BRIO Ultra HD Webcam", ("0e", "01")),
    ("1050", "0407", "Yubico", "YubiKey OTP+FIDO+CCID", ("03", "0b")),
    ("05ac", "024f", "Apple Inc.", "Magic Keyboard", ("03",)),
    ("0b0e", "245e", "GN Netcom", "Jabra Evolve2 65", ("01", "03")),
    ("17ef", "a396", "Lenovo", "ThinkPad USB-C Dock Gen2", ("09",)),
    ("0bda", "8153", "Realtek", "USB 10/100/1000 LAN", ("ff",)),
    ("413c", "b06e", "Dell", "Dell dock", ("09",)),
    ("2109", "0817", "VIA Labs, Inc.", "USB3.0 Hub", ("09",)),
    ("0781", "5583", "SanDisk", "Ultra Fit", ("08",)),
    ("1532", "0084", "Razer", "DeathAdder V2", ("03",)),
)
# Linux hosts report their root hubs: Linux Foundation ids that are NOT an IP-KVM.
LINUX_ROOT_HUBS: Final[tuple[tuple[str, str, str, str, tuple[str, ...]], ...]] = (
    ("1d6b", "0002", "Linux Foundation", "2.0 root hub", ("09",)),
    ("1d6b", "0003", "Linux Foundation", "3.0 root hub", ("09",)),
)
NORMAL_DISPLAYS: Final[tuple[tuple[str, str], ...]] = (
    ("DELL U2720Q", "Dell"), ("DELL P2419H", "Dell"), ("LG HDR 4K", "LG Electronics"), ("LG ULTRAFINE", "LG Electronics"),
    ("Studio Display", "Apple"), ("PHL 276E8V", "Philips"), ("SAMSUNG", "Samsung"), ("HP E24 G5", "HP"),
    ("LEN T27h-20", "Lenovo"), ("ASUS VG27A", "ASUS"), ("BenQ GW2780", "BenQ"),
)
BUILTIN_DISPLAY: Final[dict[str, tuple[str, str]]] = {
    "windows": ("Built-in Display", "LG Display"), "macos": ("Built-in Retina Display", "Apple"), "linux": ("eDP-1", "BOE"),
}

# IP-KVM signatures: the USB gadget the laptop sees (a Linux composite gadget, 1d6b:0104, with
# keyboard/mouse HID and mass storage) and the display name the capture side's EDID presents.
KVM_DEVICES: Final[dict[str, dict]] = {
    "pikvm": {"usb": ("1d6b", "0104", "PiKVM", "PiKVM Composite Device", ("03", "03", "08")), "serial": "CAFEBABE",
              "displays": ("PiKVM V3", "PiKVM V4 Plus", "PiKVM")},
    "tinypilot": {"usb": ("1d6b", "0104", "tinypilot", "Multifunction USB Device", ("03", "03")), "serial": "6b65796d696d6570690",
                  "displays": ("TinyPilot", "TinyPilot Voyager")},
    "jetkvm": {"usb": ("1d6b", "0104", "JetKVM", "USB Emulation Device", ("03", "03", "08")), "serial": "JETKVM001",
               "displays": ("JetKVM",)},
    "glinet": {"usb": ("1d6b", "0104", "GL.iNet", "GLKVM", ("03", "03", "08")), "serial": "GLKVM",
               "displays": ("GL-RM1", "GLKVM")},
    "capture_dongle": {"usb": ("1a86", "e026", "wch.cn", "CH9329 HID", ("03",)), "serial": None,
                       "displays": ("MACROSILICON", "USB3. 0 capture", "HDMI Capture")},
}

# Router and access-point vendor prefixes (OUIs) for believable MAC addresses.
OUIS: Final[tuple[str, ...]] = (
    "a0:40:a0", "50:c7:bf", "00:1d:d0", "f8:bb:bf", "24:5a:4c", "e0:63:da", "f4:f5:d8", "00:0c:42", "c0:56:27",
    "dc:a6:32", "b0:be:76", "3c:37:86", "74:ac:b9", "88:71:b1", "9c:53:22", "10:0c:6b", "44:d9:e7", "ac:84:c6",
)
HOME_SSIDS: Final[dict[str, tuple[str, ...]]] = {
    # Router defaults and the names people give their networks, by country (others: GENERIC).
    "US": ("NETGEAR{n}", "TP-Link_{h}", "xfinitywifi_home_{h}", "ATT{h}", "Spectrum-{h}", "MyCharter_{h}", "eero-{h}",
           "Verizon_{h}", "{last} Home", "{last}-5G", "Linksys{n}", "CenturyLink{n}", "Cox-{h}"),
    "CA": ("BELL{n}", "Rogers-{h}", "SHAW-{h}", "{last} Home", "TP-Link_{h}"),
    "GB": ("BT-{h}", "SKY{h}", "VM{n}{h}", "TP-Link_{h}", "{last} Home"),
    "DE": ("FRITZ!Box 7590 {h}", "Vodafone-{h}", "o2-WLAN{n}", "MagentaWLAN-{h}"),
    "IN": ("JioFiber-{h}", "Airtel_{h}", "ACT{n}", "TP-Link_{h}"),
    "PH": ("PLDTHOMEFIBR{h}", "GlobeAtHome_{h}", "Converge_{h}"),
    "AU": ("Telstra{h}", "Optus_{h}", "TP-Link_{h}"),
    "BR": ("VIVO-{h}", "NET_2G{h}", "CLARO_{h}"),
    "PL": ("Orange_Swiatlowod_{h}", "UPC{n}", "TP-Link_{h}"),
    "FR": ("Livebox-{h}", "Freebox-{h}"),
    "CN": ("ChinaNet-{h}", "ChinaUnicom-{h}", "TP-LINK_{h}", "Tenda_{h}", "HUAWEI-{h}"),
    "RU": ("Keenetic-{h}", "RT-WiFi-{h}", "TP-Link_{h}", "MGTS_GPON_{h}"),
}
GENERIC_SSIDS: Final[tuple[str, ...]] = ("TP-Link_{h}", "HUAWEI-{h}", "ZTE-{h}", "Tenda_{h}", "NETGEAR{n}", "D-Link_{h}")
HOTEL_SSIDS: Final[tuple[str, ...]] = ("Marriott_GUEST", "Hilton Honors", "HolidayInn-Guest", "Hyatt_WiFi", "IHG ONE REWARDS Free WiFi", "Westin_Guest", "Premier Inn Ultimate Wi-Fi", "Courtyard_GUEST")
